"""Hard safety limits, enforced inside the drivers before anything is written.

The limits are configuration (the station file's ``safety:`` section), so the class and
its checks live in :mod:`andreev.config.safety`, below the drivers; this module is where
the drivers take them from. Every driver holds a :class:`SafetyLimits`: the station's,
or :data:`DEFAULT_LIMITS` — never none.
"""

from andreev.config.safety import (
    DEFAULT_LIMITS,
    RELATIVE_SLACK,
    SafetyError,
    SafetyLimits,
    problem,
)

__all__ = ["DEFAULT_LIMITS", "RELATIVE_SLACK", "SafetyError", "SafetyLimits", "problem"]
