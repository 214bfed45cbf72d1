"""NeuroML channel and concentration-model dynamics as NEURON-style density
mechanisms (NEURON units), the way jNeuroML's NEURON export writes them as
mod files: a channel density's current ``gmax * fopen * (v - erev)``, its
gates advanced as the export's mod files advance them, a calcium pool
writing ``cai``. Used by :mod:`nmlcell.importers.nml_cell`."""
from __future__ import annotations

from dataclasses import replace

import sympy as sp

from ..errors import ModelImportError
from ..ir.expr import sym
from ..ir.mechanism import (Assignment, Condition, Current, Derived, Input, IonUse, Mechanism, Parameter, Source,
                             State)
from ..ir.units import NONE, Dim
from .nml_kinetic import sparse_scheme

_V = Dim(m=1, l=2, t=-3, i=-1)


def _plain(m: Mechanism, keep_lags: bool = False, lagged_out: dict | None = None) -> Mechanism:
    """``m`` with jNeuroML's step-late/step-early reads (``x@1``, ``x@new``:
    see Mechanism.lags/leads) read as ``x``, as every lowering other than
    the LEMS interpreter's does (the NEURON export computes them in one
    pass), and its LEMS paths written with ``_`` (``m/q`` -> ``m_q``, the
    export's mod names: ``m_q_naChan`` in NEURON is ``m_q_naChan`` here)."""
    names = [p.name for p in m.parameters] + [s.name for s in m.states] + [d.name for d in m.derived]

    derived_names = {d.name for d in m.derived}
    lagged: dict = {}  # derived x read as x@k -> its state "x_prev" (see density_mechanism)

    def flat(n):
        return n.split("@")[0].replace("/", "_")

    def one(a):
        base, _, lag = a.name.partition("@")
        if lag.isdigit() and base in derived_names and keep_lags:
            lagged[base] = flat(base) + "_prev"
            return sym(lagged[base])
        return sym(flat(a.name))

    def plain(e):
        rep = {a: one(a) for a in e.free_symbols if "@" in a.name or "/" in a.name}
        return e.xreplace(rep) if rep else e

    if len({flat(n) for n in names}) != len(set(names)):
        raise ModelImportError(f"{m.name}: names differ only by '/' and '_' ({m.source})")
    out = replace(m, parameters=tuple(replace(p, name=flat(p.name)) for p in m.parameters),
                   states=tuple(replace(s, name=flat(s.name)) for s in m.states),
                   derived=tuple(replace(d, name=flat(d.name), expr=plain(d.expr)) for d in m.derived),
                   derivatives={flat(k): plain(e) for k, e in m.derivatives.items()},
                   on_start=tuple(replace(a, variable=flat(a.variable), expr=plain(a.expr)) for a in m.on_start),
                   conditions=tuple(replace(c, test=plain(c.test), assignments=tuple(
                       replace(a, variable=flat(a.variable), expr=plain(a.expr)) for a in c.assignments))
                       for c in m.conditions),
                   exposures={k: (flat(v[0]), v[1]) for k, v in m.exposures.items()},
                   lags=(), leads=())
    if lagged_out is not None:
        lagged_out.update({flat(k): v for k, v in lagged.items()})
    return out


def nocmodl_default(x: float) -> float:
    """A parameter's value as NEURON holds it from the export's mod file:
    jNeuroML writes the PARAMETER default as a Java float
    (``13.888889``), and NEURON 9's nocmodl compiles defaults with ``%g``,
    6 significant digits (``_parm_default``: ``13.8889``). Traub's TCR
    ``cal`` (forward-rate scale 13.888889 mV) moved its spikes by up to
    0.025 ms over 1.5 s before this."""
    import numpy as np

    from .nmodl_decl import nocmodl_g

    if not np.isfinite(x) or x == 0.0:
        return float(x)
    return nocmodl_g(float(str(np.float32(x))))


def _mod_defaults(m: Mechanism) -> Mechanism:
    return replace(m, parameters=tuple(replace(p, value=nocmodl_default(p.value)) for p in m.parameters))


def density_mechanism(ch: Mechanism, label: str, ion: str | None, unsupported: list, where, *,
                      nernst: bool = False, ghk: bool = False, ghk2: bool = False) -> Mechanism:
    """An ion channel's flattened Mechanism (internal units: mV, ms) as the
    density mechanism ``label`` that jNeuroML's NEURON export writes for it:
    parameters ``gmax`` (S/cm2) and ``erev`` (mV) added, ``i = gion * (v -
    erev)`` (mA/cm2) its current, written to ion ``ion`` (none for
    ``non_specific``); ``temperature`` read as ``celsius + 273.15``. With
    ``nernst`` (channelDensityNernst) the reversal potential is the ion's
    ``e<ion>`` (the export's mod READs it; NEURON keeps it at the Nernst
    value where a concentration model writes ``<ion>i``) and ``erev`` is
    not a parameter. With ``ghk`` (channelDensityGHK) the parameter is
    ``permeability`` (cm/s) instead, ``gion = permeability * fopen`` and
    ``i = gion * ghk(v, cai, cao)``, the export's mod FUNCTION (valence 2,
    its FARADAY 96485.3, NEURON's R). With ``ghk2`` (channelDensityGHK2)
    ``gmax`` as usual and ``i = gion * ghk2(v, cai, cao)`` (mV, the
    export's FUNCTION).

    The export's mod file computes the gates' rates and conductance factors
    in a PROCEDURE that only its DERIVATIVE block calls, before the states
    change; its ``cnexp`` then sees ``q' = rate_q`` with ``rate_q`` a
    number. So, per step (in NEURON's state phase, at the new ``v``): every
    state moves by forward Euler, ``q += dt * dq/dt(q_old, v_new)``, and the
    conductance the next step's current uses is ``fopen`` of the old states
    (``fopen_lag``: one step late; at the first step the value INITIAL left,
    ``fopen`` of all-zero states). A channel without states computes
    ``fopen`` with its current (no lag). An ``ionChannelKS`` (every state
    an occupancy of a kinetic scheme) is the export's KINETIC block with
    ``METHOD sparse`` instead, of any size (:mod:`.nml_kinetic`)."""
    lagged: dict = {}
    kin = [tuple(n.replace("/", "_") for n in sch) for sch in ch.kinetic]
    # a channel whose every state is a kinetic scheme's occupancy (ionChannelKS):
    # the export's KINETIC block, METHOD sparse (see nml_kinetic.sparse_scheme)
    ks_only = bool(kin) and {n for sch in kin for n in sch} == {s.name.replace("/", "_") for s in ch.states}
    ch = _mod_defaults(_plain(ch, keep_lags=bool(ch.states) and not ks_only, lagged_out=lagged))
    subs = {}
    inputs = [Input("v", _V, "requirement")]
    ions, reads = [], []
    for inp in ch.inputs:
        if inp.name == "v":
            continue
        if inp.name == "temperature":
            subs[sym("temperature")] = sym("celsius") + sp.Float(273.15)
            inputs.append(Input("celsius", NONE, "global"))
        elif inp.name == "t":
            inputs.append(Input("t", Dim(t=1), "time"))
        elif inp.name in _CONC_INPUTS:  # the calcium concentration of the compartment, NEURON's cai/cao
            name = _CONC_INPUTS[inp.name]
            subs[sym(inp.name)] = sym(name)
            reads.append(name)
        else:
            unsupported.append(where(f"ion channel '{ch.name}' needs '{inp.name}' (only v, temperature, "
                                     f"caConc and caConcExt are given to a channel on a multi-compartment "
                                     f"cell yet)"))
    if reads:
        ions.append(IonUse("ca", read=tuple(dict.fromkeys(reads))))

    def x(e):
        return e.xreplace(subs) if subs else e

    src = Source(origin="channelDensity")
    params = list(ch.parameters) + [Parameter("gmax", 0.0, NONE, "S/cm2", "conductance density (condDensity)")
                                    if not ghk else Parameter("permeability", 0.0, NONE, "cm/s", "permeability")]
    if ghk or ghk2:
        if ion != "ca":
            unsupported.append(where(f"channelDensityGHK{'2' if ghk2 else ''} of '{ch.name}' for ion '{ion}' "
                                     "(the export assumes calcium, valence 2)"))
        ion = "ca"
        nernst = True  # no erev parameter
        if not ions:
            ions.append(IonUse("ca", read=("cai", "cao")))
        else:
            ions[0] = IonUse("ca", read=tuple(dict.fromkeys(ions[0].read + ("cai", "cao"))))
        if not any(i.name == "celsius" for i in inputs):
            inputs.append(Input("celsius", NONE, "global"))
    elif not nernst:
        params.append(Parameter("erev", 0.0, _V, "mV", "reversal potential"))
    elif ion in (None, "", "non_specific"):
        unsupported.append(where(f"channelDensityNernst of '{ch.name}' without an ion"))
        ion = "ca"
    erev = sym(f"e{ion}") if nernst else sym("erev")
    derived = [replace(d, expr=x(d.expr)) for d in ch.derived]
    fopen = sym(ch.exposures["fopen"][0])
    states = list(ch.states)
    derivatives: dict = {}
    updates: tuple = ()
    method = "none"
    g = fopen
    on_start = [replace(a, expr=x(a.expr)) for a in ch.on_start]
    if ks_only:
        derivatives, on_start = sparse_scheme(kin, {k: x(e) for k, e in ch.derivatives.items()}, on_start)
        method = "sparse"
    elif ch.states:
        full: dict = {}  # derived name -> expression in states, parameters and inputs
        for d in derived:
            full[sym(d.name)] = d.expr.xreplace(full)
        # exponents (gate instances) and Constants as numbers, as the lowering
        # inlines them elsewhere (its update code reads no inlined parameter)
        pnames = {p.name: p for p in ch.parameters}
        fixed = {sym(p.name): sp.Float(p.value) for p in ch.parameters if p.constant}
        for e in full.values():
            for pw in e.atoms(sp.Pow):
                if pw.args[1].is_Symbol and pw.args[1].name in pnames:
                    fixed[pw.args[1]] = sp.Float(pnames[pw.args[1].name].value)
        full = {k: v.xreplace(fixed) for k, v in full.items()}
        dt = sym("dt")
        # a case dividing by zero (a time course of 0 when alpha + beta = 0) is
        # sympy's zoo: NEURON would compute inf there too
        assigns = [Assignment(s.name, (sym(s.name) + dt * x(ch.derivatives.get(s.name, sp.Integer(0)))
                                       .xreplace(full)).xreplace({sp.zoo: sp.oo}))
                   for s in ch.states]
        lag_f = fopen.xreplace(full)
        assigns.append(Assignment("fopen_lag", lag_f))
        for x_, prev in lagged.items():  # the export's rates() reads x before assigning it: last call's
            assigns.append(Assignment(prev, full[sym(x_)]))
            states.append(State(prev, NONE, f"{x_} of the previous rates() call (the export's order)", src))
        updates = (("states", tuple(assigns)),)
        states.append(State("fopen_lag", NONE, "fopen of the previous step's states (the export's order)", src))
        derivatives = {s.name: sp.Integer(0) for s in states}
        # INITIAL calls rates() twice: x_prev is x at v_init before the gates are set
        on_start = [Assignment(prev, sym(x_)) for x_, prev in lagged.items()] + on_start
        on_start.append(Assignment("fopen_lag", lag_f.xreplace({sym(s.name): sp.Integer(0) for s in ch.states})))
        inputs.append(Input("dt", Dim(t=1), "global"))
        g = sym("fopen_lag")
    g = g * sym("permeability" if ghk else "gmax")
    derived.append(Derived("gion", g, NONE, src))
    if ghk or ghk2:
        derived.append(Derived("i", sym("gion") * (_ghk2() if ghk2 else _ghk()), NONE, src))
    else:
        derived.append(Derived("i", sym("gion") * (sym("v") - erev), NONE, src))
    if ion in (None, "", "non_specific"):
        currents = (Current("i", None, "nonspecific", "mA/cm2"),)
    else:
        currents = (Current("i", ion, "ion", "mA/cm2"),)
        read = (f"e{ion}",) if nernst and not (ghk or ghk2) else ()
        if ion == "ca" and ions:
            ions[0] = IonUse("ca", read=ions[0].read + read, write=("ica",))
        else:
            ions.append(IonUse(ion, read=read, write=("i" + ion,)))
    return Mechanism(
        name=label, kind="density", component_type=f"channelDensity of {ch.component_type}",
        parameters=tuple(params), states=tuple(states), derived=tuple(derived),
        derivatives=derivatives, inputs=tuple(inputs), on_start=tuple(on_start), conditions=(),
        exposures={**ch.exposures, "gion": ("gion", NONE), "i": ("i", NONE), "fopen_lag": ("fopen_lag", NONE)},
        source=Source(origin=f"channelDensity {label} ({ch.source})"), units="neuron",
        ions=tuple(ions), currents=currents, solves=(("states", method),) if ch.states else (),
        updates=updates)


_CONC_INPUTS = {"caConc": "cai", "caConcExt": "cao"}


def _efun(a):
    return sp.Piecewise((1 - a / 2, sp.Abs(a) < sp.Float(1e-4)), (a / (sp.exp(a) - 1), True))


def _ghk2() -> sp.Expr:
    """The export's ``ghk2(v, cai, cao)`` (mod FUNCTION, mV)."""
    f = sp.Float(25.0 / 293.15) * (sym("celsius") + sp.Float(273.15)) / 2
    nu = sym("v") / f
    return -f * (1 - (sym("cai") / sym("cao")) * sp.exp(nu)) * _efun(nu)


def _ghk() -> sp.Expr:
    """The export's ``ghk(v, cai, cao)`` (mod FUNCTION; .001 coul/cm3)."""
    from ..passes.compartment import GAS_R

    F = sp.Float(96485.3)  # the export's mod bypasses NEURON's FARADAY
    z = sp.Float(1e-3) * 2 * F * sym("v") / (sp.Float(GAS_R) * (sym("celsius") + sp.Float(273.15)))

    return sp.Float(1e-3) * 2 * F * (sym("cai") * _efun(-z) - sym("cao") * _efun(z))


def concentration_mechanism(cm: Mechanism, ion: str, unsupported: list, where) -> Mechanism:
    """A concentration model's flattened Mechanism as the density mechanism
    jNeuroML's NEURON export writes for it: its ``concentration`` is the
    ion's inside concentration (``cai``, written), its current requirement
    (``iCa``, nA, positive inward) is ``-ica * area`` in NEURON's units,
    ``surfaceArea`` the compartment's area, ``initialConcentration`` and
    ``initialExtConcentration`` parameters (the species' values). As in
    the export's mod file, the states move by forward Euler in NEURON's
    state phase (with the ion current of the step's current phase) and an
    OnCondition (``concentration < 0``: set to 0) applies after it."""
    cm = _mod_defaults(_plain(cm))
    ci = f"{ion}i"
    subs = {sym("concentration"): sym(ci)}
    params = list(cm.parameters)
    for inp in cm.inputs:
        if inp.dim is not None and inp.dim == Dim(i=1):
            subs[sym(inp.name)] = -sym(f"i{ion}") * sym("area") * sp.Float(1e-2)
        elif inp.name == "surfaceArea":
            pass  # the compartment's area (um2), by that name below
        elif inp.name in ("initialConcentration", "initialExtConcentration"):
            params.append(Parameter(inp.name, 0.0, inp.dim, "mM", f"the species' {inp.name}"))
        elif inp.name == "temperature":
            subs[sym("temperature")] = sym("celsius") + sp.Float(273.15)
        else:
            unsupported.append(where(f"concentration model '{cm.name}' needs '{inp.name}'"))
    subs[sym("surfaceArea")] = sym("area")
    full: dict = {}
    for d in cm.derived:
        full[sym(d.name)] = d.expr.xreplace(subs).xreplace(full)
    dt = sym("dt")
    assigns = []
    new = {}
    for st in cm.states:
        e = cm.derivatives.get(st.name, sp.Integer(0)).xreplace(subs).xreplace(full)
        name = ci if st.name == "concentration" else st.name
        new[st.name] = sym(name) + dt * e
    for c in cm.conditions:
        for a in c.assignments:
            if a.variable not in new:
                unsupported.append(where(f"concentration model '{cm.name}': an OnCondition sets {a.variable}"))
                continue
            test = c.test.xreplace({sym(k): v for k, v in new.items()})
            new[a.variable] = sp.Piecewise((a.expr.xreplace(subs), test), (new[a.variable], True))
    for st in cm.states:
        assigns.append(Assignment(ci if st.name == "concentration" else st.name, new[st.name]))
    states = tuple(replace(st, name=ci) if st.name == "concentration" else st for st in cm.states)
    return Mechanism(
        name=cm.name, kind="density", component_type=f"species with {cm.component_type}",
        parameters=tuple(params), states=states,
        derived=tuple(replace(d, expr=d.expr.xreplace(subs)) for d in cm.derived),
        derivatives={st.name: sp.Integer(0) for st in states},
        inputs=(Input("v", _V, "requirement"), Input("dt", Dim(t=1), "global")),
        on_start=tuple(Assignment(ci if a.variable == "concentration" else a.variable, a.expr.xreplace(subs))
                       for a in cm.on_start),
        conditions=(), exposures={**cm.exposures, "concentration": (ci, cm.exposures.get("concentration", ("", NONE))[1])},
        source=Source(origin=f"concentration model {cm.name} ({cm.source})"), units="neuron",
        ions=(IonUse(ion, read=(f"i{ion}",), write=(ci,)),), currents=(), solves=(("states", "none"),),
        updates=(("states", tuple(assigns)),))


SPIKE_DETECTOR = "nml_spike_detector"


def spike_detector() -> Mechanism:
    """NEURON's ``NetCon(&v(x), nil, threshold, 0, 1)`` that jNeuroML's
    NEURON export puts on a cell for an EventOutputFile, as a density
    mechanism: a spike at the end of each step where ``v`` reaches
    ``threshold`` (mV; the cell's spikeThresh) from below (NEURON's fixed
    step records that step's time). ``threshold`` is +inf where there is no
    NetCon."""
    src = Source(origin="spike detector (the export's NetCon)")
    v, th, above = sym("v"), sym("threshold"), sym("above")
    return Mechanism(
        name=SPIKE_DETECTOR, kind="density", component_type="NetCon threshold",
        parameters=(Parameter("threshold", float("inf"), _V, "mV", "spike threshold (spikeThresh)"),),
        states=(State("above", NONE, "1 while v is at or above the threshold", src),),
        derived=(), derivatives={"above": sp.Integer(0)},
        inputs=(Input("v", _V, "requirement"),),
        on_start=(Assignment("above", sp.Piecewise((sp.Integer(1), v >= th), (sp.Integer(0), True))),),
        conditions=(Condition(sp.And(v >= th, above < sp.Float(0.5)), (Assignment("above", sp.Integer(1)),),
                              ("spike",), src),
                    Condition(sp.And(v < th, above > sp.Float(0.5)), (Assignment("above", sp.Integer(0)),),
                              (), src)),
        exposures={"above": ("above", NONE)}, source=src, units="neuron", ions=(), currents=())
