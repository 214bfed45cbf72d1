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
from typing import TYPE_CHECKING

from .units import Dim

if TYPE_CHECKING:  # sympy is imported by whoever builds expressions, not by `import nmlcell`
    import sympy as sp


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
class OnEvent:
    """What a mechanism does when an event arrives on its input ``port``
    (a synapse's ``in``): ``assignments`` in order, each seeing the
    previous ones, then ``events`` emitted. Events a component relays to
    its children (a plasticity mechanism, a doubleSynapse's two synapses)
    and a child's events its parent handles (a spikeArray's spikes) are
    already folded in, in jLEMS's order."""
    port: str
    assignments: tuple[Assignment, ...]
    events: tuple[str, ...] = ()
    source: Source = field(default_factory=Source)


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
class IonUse:
    """An NMODL ``USEION``: the ion's variables this mechanism reads
    (``ena``, ``cai``, ``ica``...) and writes (its current ``ina``, or a
    concentration ``cai``), and the VALENCE it declares (None: the ion's own)."""
    ion: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    valence: float | None = None


@dataclass(frozen=True)
class Current:
    """A membrane current a mechanism contributes: the variable holding it,
    the ion it belongs to (None for NONSPECIFIC_CURRENT/ELECTRODE_CURRENT),
    ``kind`` "ion" | "nonspecific" | "electrode" and its unit ("mA/cm2" for
    a density mechanism, "nA" for a point process). NEURON's sign
    convention: ion and nonspecific currents are positive outward, an
    electrode current is positive inward (depolarising)."""
    variable: str
    ion: str | None
    kind: str
    unit: str


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
    leads: tuple = ()
    """States read by an ancestor component (a ``select`` path), written
    ``state@new``. jNeuroML's interpreter advances children before their
    parent, so the parent sees the value after this step's update; every
    other lowering reads ``state@new`` as ``state``."""
    kinetic: tuple = ()
    """The occupancy states of each KineticScheme (a tuple of names per
    scheme): linear in themselves, so jNeuroML's order advances them with
    the exact exponential of the rate matrix."""
    regimes: dict = field(default_factory=dict)
    """Regime state -> index of the initial Regime (``<prefix>regime``
    states, one per component with Regimes)."""
    sequential: tuple = ()
    """States whose TimeDerivatives sit in Regimes, in update order:
    jNeuroML advances these one after the other (a later one reads the
    earlier ones' new values); main-Dynamics states advance together."""
    on_events: tuple[OnEvent, ...] = ()
    """Handlers of incoming events (LEMS ``OnEvent``), one per input port."""

    # -- NMODL (filled by nmlcell.importers.nmodl; defaults elsewhere) ----
    ions: tuple[IonUse, ...] = ()
    """USEION statements: ion variables read (inputs) and written."""
    currents: tuple[Current, ...] = ()
    """Membrane currents contributed, each a derived variable (or input)."""
    solves: tuple = ()
    """(block, method) per SOLVE in BREAKPOINT, in order: method one of
    "cnexp", "derivimplicit", "euler", "sparse", "runge", ... or "none"
    (a SOLVE with no METHOD). The derivatives of the SOLVEd blocks are in
    ``derivatives``; the method is what NEURON would integrate them with."""
    steady_state: tuple = ()
    """(states, method) when INITIAL does ``SOLVE block STEADYSTATE method``
    and the importer could not solve it in closed form (a linear scheme is
    solved into ``on_start``): after ``on_start`` these states are to be set
    to the steady state of their derivatives (with ``conserve`` replacing
    equations as NEURON does)."""
    conserve: tuple = ()
    """(state, expr) from KINETIC ``CONSERVE``: NEURON's sparse solver
    replaces the equation of ``state`` with ``state = expr``."""
    units: str = "internal"
    """"internal" (nmlcell.ir.units' coherent system) or "neuron": values
    and expressions in NEURON's customary units (ms, mV, mA/cm2 or nA, S/cm2,
    uS, um, mM, degC); each Parameter's ``unit`` names its own."""
    globals: tuple[str, ...] = ()
    """Parameters NMODL declares GLOBAL (one value shared by all instances)."""
    range: tuple[str, ...] = ()
    """Names the NEURON block declares RANGE (one value per instance), in
    the file's order; a PARAMETER in neither ``globals`` nor ``range`` is
    GLOBAL in NEURON (nrnivmodl's rule)."""
    current_phase: tuple[str, ...] = ()
    """Derived values NEURON computes in BREAKPOINT outside its SOLVE
    (``nrn_cur``: at ``v(t)`` and the states at ``t``) and that the SOLVEd
    block reads from the mechanism's storage (``rates(v)`` called in
    BREAKPOINT before ``SOLVE kstates METHOD sparse``: the kinetic rates
    of the old voltage). Empty without a SOLVE."""
    threadsafe: bool = False
    carried: tuple = ()
    """(carry, derived) pairs: values NEURON keeps between BREAKPOINT calls.
    ``carry`` is a state (an ASSIGNED ``x`` read before BREAKPOINT assigns
    it, as ``x@prev``; or a STATE that BREAKPOINT assigns, under its own
    name) and ``derived`` BREAKPOINT's last value of it (``x``, or
    ``s@jump``). NEURON runs BREAKPOINT twice per current phase, at
    ``v + 0.001`` then at ``v``: the first call reads ``carry``, the second
    the first call's ``derived``; the phase leaves the second call's value
    (a STATE then advances from it in the state phase)."""
    updates: tuple = ()
    """(procedure, (Assignment, ...)) per ``SOLVE proc`` of a PROCEDURE in
    BREAKPOINT, in order: a discrete update NEURON applies once per step in
    its state phase (``nrn_state``: after the voltage update, with the new
    ``v`` and ``t`` at the end of the step), never when computing currents.
    The assignments are simultaneous: each expression is in terms of the
    values before the update (states; parameters; inputs; the current
    phase's value of a derived variable, by its name)."""

    # -- a NEURON-style compartment (nmlcell.passes.compartment) --------------
    methods: dict = field(default_factory=dict)
    """State -> (NEURON integration method, owning mechanism): the method
    ("cnexp", "derivimplicit", "euler", "sparse"; "v" for the membrane
    potential) the ``staggered`` solver applies after the voltage, in
    NEURON's order of mechanisms (a later one reads the states an earlier
    one has just updated)."""
    frozen: tuple = ()
    """Derived values (the ion currents ``ina``, ``ica``...) that NEURON
    computes with the currents, before the voltage update, and that the
    mechanisms reading them see unchanged while their states advance."""

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def state_names(self) -> list[str]:
        return [s.name for s in self.states]
