"""Synapses of any LEMS ComponentType on multi-compartment NeuroML cells,
composed from their Dynamics as jNeuroML's NEURON export writes their
mod files (:func:`nml_network.synapse_of` falls back on
:func:`lems_synapse` for the types it has no mod file of: alphaSynapse,
expThreeSynapse, alphaCurrentSynapse, doubleSynapse, user-defined ones).

The component is flattened by the point-cell networks' path
(:class:`~.lems_flatten.Flattener`, internal units) and written back as
the export's point process, generated from the flattened sympy
expressions:

- parameters, and the derived values that read only parameters
  (``peakTime``, ``waveformFactor``), as NEURON holds them (the export
  prints Java floats, nocmodl compiles them with ``%g``);
- the export's DERIVATIVE reads each rate from a PROCEDURE (``X' =
  rate_X``): ``cnexp`` sees a constant and steps forward Euler; the same
  PROCEDURE sets the current ``i = -(LEMS i)`` in the state phase only,
  from the states before their update and the new ``v`` (BREAKPOINT has
  only the SOLVE), with no ``di/dv``. Here: METHOD euler and the SOLVEd
  PROCEDURE ``stale`` of :mod:`.nml_network`'s synapses;
- a ConditionalDerivedVariable is assigned by if/else before use (in
  ``rates`` and ``stale``), as the export writes it;
- NET_RECEIVE(weight): the OnEvent's assignments in order, every
  ``weight`` property (the synapse's and its children's, ``doubleSynapse``)
  read as the NetCon's weight, as the export does;
- ``continuous``: a continuous connection's component (no event; its
  ``peer/v`` is the parameter ``vpeer`` that :func:`.nml_network_gap.couple`
  turns into an input); without states its current is the BREAKPOINT's
  (current phase, ``di/dv`` from ``v``), as the export's ``gapJunction``.

OnConditions: the export's BREAKPOINT ifs (current phase), written by
:mod:`.nml_network_cond`. Refused (listed as unsupported): Regimes (the
export never arms their WATCH), an OnCondition that emits an event or sits
in an event synapse without time derivatives, requirements other than
``v``, ``temperature`` (and ``peer/v``), a Piecewise inside an expression,
an event synapse with no state, no current ``i``.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.str import StrPrinter

from .nml_network import _MOD, synapse_mechanism

_RESERVED = {"v", "i", "isav", "t", "dt", "celsius", "area", "diam", "weight", "stale", "states", "rates", "vpeer"}
RECORDED: dict[str, dict] = {}  # mod name -> {LEMS exposure: (its variable in the mod, Dim)}
_W = sp.Dummy("netcon_weight")  # NET_RECEIVE's weight
_FUNCS = {"exp", "log", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "Abs", "Piecewise"}


class _Nmodl(StrPrinter):
    """sympy -> NMODL expression text (``^`` for powers, ``fabs``)."""

    def _print_Pow(self, e):
        b, x = e.args
        if x == sp.Rational(1, 2):
            return f"sqrt({self._print(b)})"
        if x == -1:
            return f"1/({self._print(b)})"
        return f"({self._print(b)})^({self._print(x)})"

    def _print_Abs(self, e):
        return f"fabs({self._print(e.args[0])})"

    def _print_Exp1(self, e):
        return repr(float(sp.E))

    def _print_Float(self, e):
        return repr(float(e))

    def _print_And(self, e):
        return " && ".join(f"({self._print(a)})" for a in e.args)

    def _print_Or(self, e):
        return " || ".join(f"({self._print(a)})" for a in e.args)

    def _print_Equality(self, e):  # H(0) = 1/2's test
        return f"({self._print(e.lhs)}) == ({self._print(e.rhs)})"

    def _print_Unequality(self, e):
        return f"({self._print(e.lhs)}) != ({self._print(e.rhs)})"


def _name(n: str, reserved=_RESERVED) -> str:
    x = re.sub(r"\W", "_", n)
    return x + "_" if x in reserved else x


def lems_synapse(rd, model, syn_id: str, unsupported: list, what: str, continuous: bool = False):
    """(point process Mechanism, its parameters) of synapse ``syn_id``
    composed from its LEMS Dynamics, or None (with the reason appended to
    ``unsupported``; ``what`` names where it is used). ``continuous``: a
    continuous connection's component (no event; ``peer/v`` read as the
    parameter ``vpeer``, which :func:`.nml_network_gap.couple` feeds)."""
    cache = rd.__dict__.setdefault("_nml_lems_synapses", {})
    if (syn_id, continuous) not in cache:
        cache[syn_id, continuous] = _compose(rd, model, syn_id, continuous)
    got = cache[syn_id, continuous]
    if isinstance(got, str):
        c = model.components[syn_id]
        unsupported.append(f"{'component' if continuous else 'synapse'} '{syn_id}' of type {c.type} in {what}: "
                           f"{got}")
        return None
    return got


def params_of(values, const, names) -> dict:
    """The mod file's PARAMETERs as NEURON holds them: the export prints
    Java floats, nocmodl compiles PARAMETER defaults with ``%g``."""
    from .nml_mechanisms import nocmodl_default

    return {names[p]: nocmodl_default(v) for p, v in {**values, **const}.items()}


def _flatten(rd, model, syn_id):
    from .lems_flatten import Flattener
    from .lems_origins import equation_origins
    from .lems_si import apply_si_semantics

    flat = rd.__dict__.get("_nml_flattener")
    if flat is None:
        flat = rd.__dict__["_nml_flattener"] = Flattener(model, rd.index.locate,
                                                          instance_reqs=getattr(rd, "instance_reqs", None))
    fc = model.fatten_component(model.components[syn_id])
    rd.checker.check_component(fc)
    m, _notes = apply_si_semantics(flat.flatten(fc, name=syn_id, kind="synapse"))
    if getattr(rd, "origins", None) is not None:
        rd.origins[syn_id] = equation_origins(m, fc, rd.checker.types)
    return m


def _compose(rd, model, syn_id, continuous=False):
    """The export-style point process of ``syn_id`` (see the module's
    docstring), or a string saying why not."""
    m = _flatten(rd, model, syn_id)
    if m.unsupported:
        return "; ".join(m.unsupported)
    if getattr(m, "regimes", None):
        return ("Regimes (jNeuroML's NEURON export v1.11.0 writes no NET_RECEIVE for a Regime's OnEvent and "
                "never arms its OnConditions' WATCH: no reference to match)")
    if any(c.events for c in m.conditions):
        return "an OnCondition that emits an event"
    has_rates = any(not sp.sympify(m.derivatives.get(s.name, 0)).is_zero for s in m.states)
    if m.conditions and not has_rates and not continuous:
        return "an OnCondition in a synapse whose states have no time derivative"
    if not m.states and not continuous:
        return "it has no state variable"
    if "i" not in m.exposures:
        return "it exposes no current i"
    reserved = _RESERVED - ({"weight"} if continuous else set())
    glob = {}
    for inp in m.inputs:
        if inp.name == "v":
            continue
        if inp.name == "temperature":
            glob[sp.Symbol("temperature")] = sp.Symbol("celsius") + sp.Float(273.15)
            continue
        if continuous and inp.name == "peer/v":
            glob[sp.Symbol("peer/v")] = sp.Symbol("vpeer")
            continue
        return f"it reads {inp.name} (v{', peer/v' if continuous else ''} and temperature are supported)"
    pnames = {p.name for p in m.parameters}
    derived = {d.name: d.expr for d in m.derived}
    # derived values of parameters only: numbers, as the export prints them
    values = {p.name: float(p.value) for p in m.parameters}
    const: dict[str, float] = {}
    pending = dict(derived)
    while True:
        done = [n for n, e in pending.items()
                if {s.name for s in e.free_symbols} <= pnames | const.keys()]
        if not done:
            break
        for n in done:
            e = pending.pop(n)
            const[n] = float(e.xreplace({s: sp.Float({**values, **const}[s.name]) for s in e.free_symbols}))
    dyn = {n: e for n, e in derived.items() if n not in const}
    # ConditionalDerivedVariables: assigned by if/else before use, as the export does
    cdvs = [n for n, e in dyn.items() if isinstance(e, sp.Piecewise)]

    def inline(e):
        for _ in range(len(dyn) + 1):
            hit = {s for s in e.free_symbols if s.name in dyn and s.name not in cdvs}
            if not hit:
                return e
            e = e.xreplace({s: dyn[s.name] for s in hit})
        raise ValueError("cyclic derived variables")

    names = {n: _name(n, reserved) for n in list(pnames) + list(const) + [s.name for s in m.states] + cdvs}
    allowed = set(names.values()) | {"v", "weight", "celsius", "t", "dt"} | ({"vpeer"} if continuous else set())

    def renamed(e):
        def one(s):
            if s == _W:
                return sp.Symbol("weight")
            if sp.Symbol(s.name) in glob:
                return glob[sp.Symbol(s.name)]
            return sp.Symbol(names.get(s.name, s.name))
        return e.xreplace({s: one(s) for s in e.free_symbols})
    pr = _Nmodl()

    def text(e, weight=False):
        e = inline(sp.sympify(e))
        if weight:  # the OnEvent's weights: the NetCon's
            e = e.xreplace({s: _W for s in e.free_symbols
                            if s.name in pnames and (s.name == "weight" or s.name.endswith("/weight"))})
        e = renamed(e)
        bad = {f.func.__name__ for f in e.atoms(sp.Function)} - _FUNCS
        if bad:
            raise ValueError(f"function(s) {', '.join(sorted(bad))}")
        left = {s.name for s in e.free_symbols} - allowed
        if left:
            raise ValueError(f"unknown name(s) {', '.join(sorted(left))}")
        return e

    temps: list[str] = []  # a Piecewise inside an expression: its value, assigned before

    def assign(var, e, indent="    "):
        """NMODL statements setting ``var`` to ``e`` (sympy, renamed): a
        Piecewise (a ConditionalDerivedVariable) as if/else, as the export
        writes it; one inside an expression (``H()``, a nested case) first
        assigned to a variable ``pw_<k>`` by if/else (innermost first),
        which the expression reads."""
        if not e.has(sp.Piecewise):
            return [f"{indent}{var} = {pr.doprint(e)}"]
        pre = []
        while True:
            inner = [p for p in e.atoms(sp.Piecewise) if p != e
                     and not any(x.has(sp.Piecewise) or sp.sympify(c).has(sp.Piecewise) for x, c in p.args)]
            if not inner:
                break
            for p in sorted(inner, key=sp.default_sort_key):
                t = f"pw_{len(temps)}"
                temps.append(t)
                pre += assign(t, p, indent)
                e = e.xreplace({p: sp.Symbol(t)})
        if not isinstance(e, sp.Piecewise):
            return pre + [f"{indent}{var} = {pr.doprint(e)}"]
        if any(sp.sympify(c).has(sp.Piecewise) for _x, c in e.args):
            raise ValueError("a Piecewise inside a condition")
        out = pre
        for k, (x, c) in enumerate(e.args):
            if c is sp.true:
                out += [f"{indent}}} else {{" if k else "", f"{indent}    {var} = {pr.doprint(x)}"]
                break
            out += [f"{indent}{'} else if' if k else 'if'} ({pr.doprint(c)}) {{",
                    f"{indent}    {var} = {pr.doprint(x)}"]
        else:
            out += [f"{indent}}} else {{", f"{indent}    {var} = 0"]
        return [x for x in out if x] + [f"{indent}}}"]

    def assign_all(pairs, indent="    "):
        return [x for n, e in pairs for x in assign(n, e, indent)]

    try:
        i_expr = text(-sp.Symbol(m.exposures["i"][0]))
        derivs = [(names[s.name], text(m.derivatives.get(s.name, 0))) for s in m.states]
        start = [(names[a.variable], text(a.expr)) for a in m.on_start if a.variable in names]
        ports = [h for h in m.on_events if h.port == "in"]
        if continuous:
            if any(h.assignments or h.events for h in m.on_events):  # pulseGenerator's is empty
                return "an OnEvent in a continuous connection's component"
            events = []
        elif len(ports) != 1 or len(m.on_events) != 1:
            return "it needs exactly one OnEvent, on port 'in'"
        else:
            events = [(names[a.variable], text(a.expr, weight=True)) for a in ports[0].assignments]
        # the exposures a LEMS file may record (``synapses:<id>:<k>/<name>``):
        # a state or parameter as it is, a derived value as the export's
        # PROCEDURE leaves it (computed in the state phase): ``<name>_rec``;
        # ``i`` as the export records it, its mod's outward current
        rec, saved = {}, []
        for ename, (var, dim) in m.exposures.items():
            if ename == "i":  # the export records its mod's i: outward, -(LEMS i)
                rec[ename] = ("isav" if m.states else "i", dim)
            elif var in names:
                rec[ename] = (names[var], dim)
            elif var in dyn and m.states:
                rec[ename] = (f"{_name(var)}_rec", dim)
                saved.append((f"{_name(var)}_rec", text(sp.Symbol(var))))
        rates = [(n, f"rate_{n}", e) for n, e in derivs]
        order, todo = [], list(cdvs)
        while todo:  # each CDV after those it reads
            ready = [n for n in todo if not ({s.name for s in inline(dyn[n]).free_symbols} & (set(todo) - {n}))]
            if not ready:
                raise ValueError("cyclic ConditionalDerivedVariables")
            order += ready
            todo = [n for n in todo if n not in ready]
        cdv = [x for n in order for x in assign(names[n], text(dyn[n]))]
        body = {"rates": cdv + [x for n, r, e in rates for x in assign(r, e)],
                "cur": cdv + assign("isav" if m.states else "i", i_expr)
                + [x for n, e in saved for x in assign(n, e)],
                "bp": cdv + assign("i", i_expr)}
        conds = [(text(c.test), [(names[a.variable], text(a.expr)) for a in c.assignments])
                 for c in m.conditions]
        if any(c.has(sp.Piecewise) for c, _a in conds):
            raise ValueError("a Piecewise inside an OnCondition's test")
        # a ConditionalDerivedVariable read by NET_RECEIVE: the export reads its
        # ASSIGNED value, as the last state phase left it (a state here)
        ev_reads = sorted({x.name for _n, e in events for x in e.free_symbols} & {names[n] for n in cdvs})
        events = [(n, e.xreplace({sp.Symbol(x): sp.Symbol(f"{x}_ev") for x in ev_reads})) for n, e in events]
        ev_states = [f"{x}_ev" for x in ev_reads]
        body["cur"] += [f"    {x}_ev = {x}" for x in ev_reads]
        init_lines, event_lines = assign_all(start), assign_all(events)
        assigned = {n for _c, a in conds for n, _e in a}
        if conds and not has_rates and m.exposures["i"][0] not in {s.name for s in m.states} \
                and {s.name for s in i_expr.free_symbols} & assigned:
            return "an OnCondition assigning a state that its derived current i reads: not lowered yet"
    except (ValueError, KeyError, TypeError) as e:
        return f"its Dynamics cannot be written as the export's mod file ({e})"
    mod = "NmlLems_" + _name(syn_id) + ("_cont" if continuous else "")
    if conds:
        from .nml_network_cond import condition_mod

        try:
            tail = condition_mod(pr, derivs, init_lines, rates, body, conds, continuous, has_rates, assign, ev_states)
        except ValueError as e:
            return f"its Dynamics cannot be written as the export's mod file ({e})"
    elif m.states:  # the export: rates and current in the state phase, forward Euler
        tail = [
            "STATE { " + " ".join([n for n, _ in derivs] + ev_states) + " }",
            "INITIAL {", *init_lines, *body["cur"], "}",
            "BREAKPOINT {", "    SOLVE states METHOD euler", "    SOLVE stale", "    i = isav", "}",
            "DERIVATIVE states {", "    rates()", *(f"    {n}' = {r}" for n, r, _e in rates), "}",
            "PROCEDURE rates() {", *body["rates"], "}",
            "PROCEDURE stale() {", *body["cur"], "}"]
    else:  # no state: the export's BREAKPOINT computes the current (current phase)
        tail = ["BREAKPOINT {", *body["cur"], "}"]
    params = params_of(values, const, names)
    if continuous:
        params["vpeer"] = 0.0
    rng = list(params) + ["isav"] + [n for n, _ in saved]
    lines = ["NEURON {", f"    POINT_PROCESS {mod}", f"    RANGE {', '.join(rng)}", "    NONSPECIFIC_CURRENT i", "}",
             "PARAMETER {", *(f"    {k} = {v!r}" for k, v in params.items()), "}",
             "ASSIGNED { v (mV) i (nA) isav (nA) celsius (degC) "
             + " ".join([n for n, _ in saved] + [r for _n, r, _e in rates] + [names[n] for n in cdvs] + temps)
             + " }", *tail]  # after the tail: its temporaries are in temps
    if events:
        lines += ["NET_RECEIVE(weight) {", *event_lines, "}"]
    return _load(mod, lines, rec)


def _load(mod, lines, rec):
    """The point process of ``lines``, or why it cannot be lowered."""
    from ..errors import UnsupportedError

    _MOD[mod] = "\n".join(lines + [""])
    RECORDED[mod] = rec
    try:
        return synapse_mechanism(mod), {}
    except UnsupportedError as e:
        return f"the export's mod file cannot be lowered ({'; '.join(e.items)})"
