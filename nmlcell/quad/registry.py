"""The one open registry of solvers.

    @register_integrator("rk4", aliases=("classic_rk4",), category="explicit",
                         order=4, description="Classic 4-stage Runge–Kutta.")
    def rk4(system, t, y, dt, p): ...

See ``nmlcell/quad/_system.py`` for the step protocol.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import SolverError

CATEGORIES = ("explicit", "exponential", "implicit", "cable", "user")


@dataclass(frozen=True)
class Integrator:
    name: str
    step: Callable
    category: str
    order: int
    description: str
    aliases: tuple[str, ...] = ()
    applies: Optional[Callable] = field(default=None, compare=False)
    """``applies(system) -> None | str``: None if the solver can advance the
    system, else the reason it cannot (the registry adds a suggestion)."""
    suggest: str | None = None
    """The solver to name when this one refuses."""

    def __call__(self, system, t, y, dt, p):
        return self.step(system, t, y, dt, p)

    def check(self, system) -> None:
        """Raise :class:`SolverError` if this solver cannot advance ``system``."""
        if getattr(system, "cable", None) is not None and not getattr(self.step, "cable", False):
            raise SolverError(f"solver '{self.name}' does not apply: a branched cable is advanced with its "
                              f"tree solve, which only 'staggered' does for now; use 'staggered' instead",
                              element="solver")
        if self.applies is None:
            return
        why = self.applies(system)
        if why:
            alt = f"; use '{self.suggest}' instead" if self.suggest else ""
            raise SolverError(f"solver '{self.name}' does not apply: {why}{alt}", element="solver")


_REGISTRY: dict[str, Integrator] = {}
_ALIASES: dict[str, str] = {}


def register_integrator(name: str, *, aliases=(), category: str, order: int, description: str,
                        override: bool = False, applies=None, suggest: str | None = None):
    """Decorator registering ``step(system, t, y, dt, p) -> y_new`` under ``name``."""
    if category not in CATEGORIES:
        raise SolverError(f"unknown solver category '{category}' (one of {', '.join(CATEGORIES)})")

    def deco(fn):
        keys = (name, *aliases)
        if not override:
            for k in keys:
                if k in _REGISTRY or k in _ALIASES:
                    raise SolverError(f"a solver named '{k}' is already registered "
                                      f"(pass override=True to replace it)")
        else:
            unregister(name, missing_ok=True)
            for a in aliases:
                if a in _ALIASES:
                    _ALIASES.pop(a)
        integ = Integrator(name=name, step=fn, category=category, order=int(order),
                           description=description, aliases=tuple(aliases), applies=applies,
                           suggest=suggest)
        _REGISTRY[name] = integ
        for a in aliases:
            _ALIASES[a] = name
        return fn

    return deco


def unregister(name: str, missing_ok: bool = False) -> None:
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        if missing_ok:
            return
        raise SolverError(f"no solver named '{name}' to unregister")
    integ = _REGISTRY.pop(key)
    for a in integ.aliases:
        _ALIASES.pop(a, None)


def get_integrator(name) -> Integrator:
    """The registered solver called ``name`` (or one of its aliases)."""
    from . import _builtin  # noqa: F401  (registers the built-in solvers)

    if isinstance(name, Integrator):
        return name
    key = _ALIASES.get(name, name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    known = sorted(list(_REGISTRY) + list(_ALIASES))
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise SolverError(f"unknown solver '{name}'{hint} (see `nmlcell solvers`)", element="solver")


def all_integrators() -> list[Integrator]:
    from . import _builtin  # noqa: F401

    return list(_REGISTRY.values())
