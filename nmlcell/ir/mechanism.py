"""The IR of one mechanism: a flattened set of equations with units.

A :class:`Mechanism` is what every importer produces for a piece of
dynamics — a whole LEMS point cell, a NeuroML channel density, a stimulus,
an NMODL SUFFIX mechanism. Names are slash-separated paths (the LEMS path
of the quantity below the mechanism's root, e.g.
``bioPhys1/membraneProperties/naChans/naChan/m/q``). Values are in nmlcell's
internal units (:mod:`nmlcell.ir.units`). Frozen: passes return new ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .units import Dim


@dataclass(frozen=True)
class Source:
    file: str | None = None
    line: int | None = None
    origin: str | None = None  # ComponentType (or NMODL block) that defined it

    def __str__(self) -> str:
        s = self.file or "?"
        if self.line:
            s += f":{self.line}"
        if self.origin:
            s = f"{self.origin} ({s})"
        return s


@dataclass(frozen=True)
class Parameter:
    name: str
    value: float
    dim: Dim
    unit: str = ""
    description: str = ""
    constant: bool = False  # a LEMS Constant: fixed, not offered for fitting
    source: Source = field(default_factory=Source)


@dataclass(frozen=True)
class State:
    name: str
    dim: Dim
    description: str = ""
    source: Source = field(default_factory=Source)


@dataclass(frozen=True)
class Derived:
    name: str
    expr: sp.Expr
    dim: Dim | None = None
    source: Source = field(default_factory=Source)


@dataclass(frozen=True)
class Assignment:
    variable: str
    expr: sp.Expr


@dataclass(frozen=True)
class Condition:
    """An OnCondition: when ``test`` holds after a step, apply
    ``assignments`` (in order, each seeing the previous ones) and emit
    ``events`` (output port names)."""
    test: sp.Expr
    assignments: tuple[Assignment, ...]
    events: tuple[str, ...] = ()
    source: Source = field(default_factory=Source)
    regime: tuple[str, int] | None = None
    """(regime state, index): the handler belongs to that Regime and is
    active only when the component was in it at the start of the event
    phase (so a component makes at most one transition per step)."""


@dataclass(frozen=True)
class Input:
    """A value the mechanism needs from outside: time, temperature, a
    parent's membrane potential, or the sum of an attachment's exposures."""
    name: str
    dim: Dim | None
    kind: str  # "time" | "global" | "requirement" | "attachment"
    attachment: str | None = None  # for kind == "attachment": slot name
    exposure: str | None = None    # for kind == "attachment": exposure summed


@dataclass(frozen=True)
class Mechanism:
    name: str
    kind: str                                  # "cell", "input", "channel", ...
    component_type: str
    parameters: tuple[Parameter, ...]
    states: tuple[State, ...]
    derived: tuple[Derived, ...]               # in evaluation order
    derivatives: dict                          # state name -> sympy expr
    inputs: tuple[Input, ...]
    on_start: tuple[Assignment, ...]
    conditions: tuple[Condition, ...]
    exposures: dict                            # exposure path -> (variable name, Dim)
    unsupported: tuple[str, ...] = ()
    source: Source = field(default_factory=Source)
    lags: tuple = ()
    """(state, k): this state is read somewhere through a chain of k
    intermediate requirement holders, written ``state@k`` in expressions.
    jNeuroML's interpreter sees such values k steps late; every other
    lowering reads ``state@k`` as ``state``."""
    regimes: dict = field(default_factory=dict)
    """Regime state -> index of the initial Regime (``<prefix>regime``
    states, one per component with Regimes)."""
    sequential: tuple = ()
    """States whose TimeDerivatives sit in Regimes, in update order:
    jNeuroML advances these one after the other (a later one reads the
    earlier ones' new values); main-Dynamics states advance together."""

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def state_names(self) -> list[str]:
        return [s.name for s in self.states]
