"""``python -m andreev`` runs the command line."""

import sys

from andreev.cli import main

sys.exit(main())
