"""nmlcell's exception classes.

Every error a user can cause is one of these, with a one-line message that
names the file, line and element (or the option) at fault. The CLI prints
``str(err)`` and exits with code 2; ``--debug`` shows the traceback.
"""
from __future__ import annotations


class NmlcellError(Exception):
    """Base class of every error nmlcell raises on purpose."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 element: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.element = element
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file:
            where = str(self.file)
            if self.line:
                where += f":{self.line}"
            where += ": "
        elem = f"<{self.element}>: " if self.element else ""
        return f"{where}{elem}{self.message}"


class ModelImportError(NmlcellError):
    """A model file cannot be read: malformed XML, missing include, unknown type."""


class UnitError(ModelImportError):
    """A quantity has the wrong dimensions or an unknown unit."""


class UnsupportedError(NmlcellError):
    """The model uses constructs nmlcell does not lower yet (all listed at once)."""

    def __init__(self, items: list[str], *, file: str | None = None):
        self.items = list(items)
        head = f"{len(self.items)} unsupported construct(s): " if len(self.items) > 1 else ""
        super().__init__(head + "; ".join(self.items), file=file)


class SolverError(NmlcellError):
    """An unknown solver name, or a solver that does not apply to this system."""


class OptionError(NmlcellError):
    """A bad option value (non-positive dt, unknown quantity, bad output path...)."""


class SimulationError(NmlcellError):
    """A run that failed numerically (NaN or inf)."""


class KernelBuildWarning(UserWarning):
    """A C++ kernel could not be built or loaded: nmlcell runs on its (slower)
    pure-JAX path. Emitted once per process; ``NMLCELL_NO_FFI=1`` chooses the
    JAX path without it."""
