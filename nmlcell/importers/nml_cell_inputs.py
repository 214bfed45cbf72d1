"""Current inputs other than ``pulseGenerator`` on multi-compartment NeuroML
cells, as jNeuroML's NEURON export runs them (:func:`current_input`; used by
:func:`.nml_cell_network._add_input`).

The export writes each input component as a point process with
``ELECTRODE_CURRENT i`` whose BREAKPOINT runs the component's OnConditions
as plain ``if (test) { assignments }`` blocks, in order, every time it is
evaluated (NEURON's current phase, at ``t + dt/2``, twice per step for
``di/dv``), then its derived values (``compoundInput``'s sum of its
children's currents, times ``weight``). Here the component's LEMS Dynamics
are flattened by the point-cell path (any ComponentType: ``sineGenerator``,
``rampGenerator``, ``compoundInput``, ``voltageClamp``,
``voltageClampTriple``, the user's own) and each variable its OnConditions
set is written as one expression: the value of the last condition that
holds (the export's last ``if`` wins). That is the export's value whenever
some condition holds at every time, which is checked on the component's
numbers (else: unsupported, the export would keep a value from an earlier
step). The current is then a function of ``t``, the parameters and ``v``
(voltage clamps: ``di/dv`` as NEURON's two evaluations give it).

Refused, with the reason: the dimensionless inputs (``pulseGeneratorDL``,
``sineGeneratorDL``, ``rampGeneratorDL``: the export writes a point
process with no current, nothing reaches the cell), states with
derivatives, OnEvents that assign, conditions whose union is not all time,
and requirements other than ``v``, ``t``.
"""
from __future__ import annotations

import re

import sympy as sp

from .lems_flatten import extends
from .nml_network_lems import _flatten, _Nmodl

_DL = "basePointCurrentDL"


def current_input(rd, model, cid: str, unsupported: list, what: str):
    """The export-style point process (a Mechanism) of input component
    ``cid``, or None with the reason appended to ``unsupported``."""
    cache = rd.__dict__.setdefault("_nml_cell_inputs", {})
    if cid not in cache:
        cache[cid] = _compose(rd, model, cid)
    got = cache[cid]
    if isinstance(got, str):
        c = model.components[cid]
        f, line = rd.index.locate(cid)
        unsupported.append(f"input '{cid}' of type {c.type} ({f}:{line}) {what}: {got}")
        return None
    return got


def _covers_all_time(tests, t) -> bool:
    """Whether the union of the conditions (in ``t`` only, numbers
    substituted) holds for every t >= 0 or for none."""
    u = sp.Or(*tests)
    if u in (sp.true, sp.false):  # always, or never (the initial value throughout)
        return True
    try:
        s = u.as_set()
    except Exception:  # noqa: BLE001 - not univariate in t: cannot tell
        return False
    return s is sp.EmptySet or sp.Interval(0, sp.oo).is_subset(s)


def _numbers(e, values: dict):
    """``e`` with the parameters of ``values`` (by name) replaced by their numbers."""
    from .nml_cell import java_float

    return e.xreplace({x: sp.Float(java_float(values[x.name])) for x in e.free_symbols if x.name in values})


def _compose(rd, model, cid):
    from .nml_cell import java_float
    from .nml_network import _MOD, synapse_mechanism
    c = model.components[cid]
    if extends(model, c.type, _DL):
        return ("a dimensionless input (the export's point process for it carries no current: nothing "
                "reaches a cell with a membrane potential)")
    m = _flatten(rd, model, cid)
    if m.unsupported:
        return "; ".join(m.unsupported)
    if getattr(m, "regimes", None):
        return "Regimes"
    if any(sp.sympify(d) != 0 for d in m.derivatives.values()):
        return "states with time derivatives (the export's inputs set their states in OnConditions only)"
    if any(h.assignments for h in m.on_events):
        return "an OnEvent that assigns"
    if "i" not in m.exposures:
        return "it exposes no current i"
    t = sp.Symbol("t")
    for inp in m.inputs:
        if inp.name not in ("v", "t"):
            return f"it reads {inp.name} (v and t are supported)"
    values = {p.name: float(p.value) for p in m.parameters}
    states = [s.name for s in m.states]
    init = {a.variable: a.expr for a in m.on_start}
    # each state: the value of the last condition holding, the initial value before any
    value: dict[str, sp.Expr] = {}
    for s in states:
        rows = [(a.expr, cnd.test) for cnd in m.conditions for a in cnd.assignments if a.variable == s]
        if not rows:
            value[s] = sp.sympify(init.get(s, 0))
            continue
        if any(a.variable == s and s in {x.name.split("@")[0] for x in sp.sympify(a.expr).free_symbols}
               for cnd in m.conditions for a in cnd.assignments):
            return f"an OnCondition sets {s} from its own value"
        tests = [_numbers(sp.sympify(cnd), values) for _e, cnd in rows]
        tsym = {x for e in tests for x in e.free_symbols if x.name == "t"}
        t = next(iter(tsym), t)
        if any(x.free_symbols - {t} for x in tests) or not _covers_all_time(tests, t):
            return (f"the conditions setting {s} do not hold at every time (the export keeps the value of "
                    "an earlier step there)")
        value[s] = sp.Piecewise(*[(e, cnd) for e, cnd in reversed(rows)], (sp.sympify(init.get(s, 0)), True))
    if any(cnd.events for cnd in m.conditions):
        return "an OnCondition that emits events"
    derived = {d.name: d.expr for d in m.derived}

    def inline(e):
        e = sp.sympify(e)
        for _ in range(len(derived) + len(states) + 2):
            # ``state@new`` / ``state@k`` (a parent reading a child's state): the state itself,
            # as the export's mod file reads it
            base = {x: x.name.split("@")[0] for x in e.free_symbols}
            hit = {x for x, n in base.items() if n in derived or n in value}
            if not hit:
                return e
            e = e.xreplace({x: derived[base[x]] if base[x] in derived else value[base[x]] for x in hit})
        raise ValueError("cyclic derived values")

    try:
        i_expr = inline(sp.Symbol(m.exposures["i"][0]))
    except ValueError as e:
        return str(e)
    names = {n: re.sub(r"\W", "_", n) + "_p" for n in values}
    left = {x.name for x in i_expr.free_symbols} - set(values) - {"t", "v"}
    if left:
        return f"its current reads {', '.join(sorted(left))}"
    i_expr = i_expr.xreplace({x: sp.Symbol(names[x.name]) for x in i_expr.free_symbols if x.name in names})
    mod = "NmlInput_" + re.sub(r"\W", "_", cid)
    pr = _Nmodl()
    try:
        body = _assign("i", i_expr, pr)
    except ValueError as e:
        return f"its current cannot be written as the export's mod file ({e})"

    def text(name):
        return "\n".join(["NEURON {", f"    POINT_PROCESS {name}", f"    RANGE {', '.join(names.values())}",
                          "    ELECTRODE_CURRENT i", "}",
                          "PARAMETER {", *(f"    {names[k]} = {java_float(v)!r}" for k, v in values.items()), "}",
                          "ASSIGNED { v (mV) i (nA) }",
                          "BREAKPOINT {", *body, "}", ""])

    # the parameters are the mod's PARAMETER defaults, as in the export's sine.mod
    # (its hoc sets only an inputW's weight, in full): load_mod_file holds them to
    # nocmodl's 6 digits
    got = text(mod)
    if _MOD.get(mod, got) != got:  # another model's input of this id, in this process
        import hashlib

        mod = f"{mod}_{hashlib.sha1(got.encode()).hexdigest()[:8]}"
        got = text(mod)
    _MOD[mod] = got
    return synapse_mechanism(mod)


def _assign(var, e, pr, indent="    "):
    """NMODL statements setting ``var`` to ``e`` (Piecewise terms folded
    into one): a Piecewise as if/else if/else, the branches in order."""
    e = sp.piecewise_fold(e)
    if not isinstance(e, sp.Piecewise):
        if e.has(sp.Piecewise):
            raise ValueError("a Piecewise inside an expression")
        return [f"{indent}{var} = {pr.doprint(e)}"]
    out = []
    for k, (x, c) in enumerate(e.args):
        if x.has(sp.Piecewise):
            raise ValueError("a Piecewise inside an expression")
        if c is sp.true:
            out += [f"{indent}}} else {{" if k else f"{indent}{{", f"{indent}    {var} = {pr.doprint(x)}"]
            break
        out += [f"{indent}{'} else if' if k else 'if'} ({pr.doprint(c)}) {{", f"{indent}    {var} = {pr.doprint(x)}"]
    else:
        out += [f"{indent}}} else {{", f"{indent}    {var} = 0"]
    return out + [f"{indent}}}"]
