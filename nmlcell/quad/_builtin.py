"""Importing this module registers the built-in solvers (one file per family)."""
from . import explicit  # noqa: F401
from . import exponential  # noqa: F401
from . import implicit  # noqa: F401
from . import staggered  # noqa: F401
