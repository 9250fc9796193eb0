"""One config layer: every file andreev reads (station, experiment, the sim section) is
validated by the rules here, with errors that name the file, the key and what is allowed.
"""

from andreev.config.rules import check_keys, check_number, read_yaml
from andreev.errors import ConfigError

__all__ = ["ConfigError", "check_keys", "check_number", "read_yaml"]
