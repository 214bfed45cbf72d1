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
        if getattr(system, "cable", None) is not None and self.name in _CABLE_STEPS:
            return _CABLE_STEPS[self.name][0](system, t, y, dt, p)
        return self.step(system, t, y, dt, p)

    def check(self, system) -> None:
        """Raise :class:`SolverError` if this solver cannot advance ``system``."""
        if getattr(system, "cable", None) is not None:
            if self.name in _CABLE_STEPS or getattr(self.step, "cable", False):
                applies = _CABLE_STEPS[self.name][1] if self.name in _CABLE_STEPS else self.applies
                why = applies(system) if applies else None
                if why:
                    raise SolverError(f"solver '{self.name}' does not apply: {why}", element="solver")
                return
            raise SolverError(f"solver '{self.name}' does not apply: {cable_refusal(self, system)}; "
                              f"use one of {', '.join(repr(n) for n in cable_solvers())} instead",
                              element="solver")
        if self.applies is None:
            return
        why = self.applies(system)
        if why:
            alt = f"; use '{self.suggest}' instead" if self.suggest else ""
            raise SolverError(f"solver '{self.name}' does not apply: {why}{alt}", element="solver")


_REGISTRY: dict[str, Integrator] = {}
_ALIASES: dict[str, str] = {}

# Solvers that also advance a branched cable (a system with ``cable``): name ->
# (step on the cable with its tree solve, applies(system) -> None | reason).
# See nmlcell/quad/cable.py.
_CABLE_STEPS: dict[str, tuple] = {}


def register_cable_step(name: str, step: Callable, applies: Optional[Callable] = None) -> None:
    """Let the registered solver ``name`` advance branched cables with
    ``step(system, t, y, dt, p)`` (its own step is used everywhere else);
    ``applies(system)`` may refuse a cable with a reason."""
    _CABLE_STEPS[_ALIASES.get(name, name)] = (step, applies)


def cable_solvers() -> list[str]:
    """Names of the solvers that advance a branched cable."""
    from . import _builtin  # noqa: F401

    return list(_CABLE_STEPS)


def cable_refusal(integ: "Integrator", system) -> str:
    """Why ``integ`` cannot advance a cable; for an explicit method, the dt
    its stability would need (the cable matrix's Gershgorin bound)."""
    if integ.category == "explicit":
        from ..lower.cable_step import gershgorin_rate

        lam = gershgorin_rate(system)
        factor = getattr(integ.applies, "stability_factor", 1.0) * 2.0
        return (f"a branched cable is stiff (|lambda| up to {lam:.3g}/ms from its axial coupling): an "
                f"explicit method such as '{integ.name}' would need dt <= {factor / lam:.2g} ms")
    return "it has no step for a branched cable's tree solve"


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
    _CABLE_STEPS.pop(key, None)
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
