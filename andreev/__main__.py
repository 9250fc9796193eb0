"""``python -m andreev`` runs the command line."""

import sys

from andreev.cli import main

# guarded: the worker processes of a local Dask cluster (``andreev analyze``) re-import the
# main module under another name, and must not run the command again
if __name__ == "__main__":
    sys.exit(main())
