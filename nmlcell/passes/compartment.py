"""Compose the NMODL mechanisms inserted in one compartment into one IR cell.

The result is an ordinary :class:`~nmlcell.ir.mechanism.Mechanism` (kind
"cell", NEURON's units), so every solver, ``vmap`` and gradients apply. Names
follow NEURON's: a density mechanism's variable ``x`` is ``x_<suffix>``
(``m_hh``, ``gnabar_hh``), a point process's is ``<Name>[k].x``
(``IClamp[0].amp``); ion variables are shared (``ena``, ``ina``, ``cai``);
``v``, ``celsius``, ``area``, ``diam``, ``cm`` are the compartment's.

What NEURON does, and this pass writes as equations:

- membrane: ``dv/dt = -1000 * i_membrane / cm`` (mV/ms; cm in uF/cm2),
  ``i_membrane`` (mA/cm2) = the density currents (ion and nonspecific,
  positive outward) + ``100/area`` x (point-process currents - electrode
  currents) (nA over um2; an ELECTRODE_CURRENT is positive inward);
- ions: ``i<ion>`` is the sum of what the mechanisms writing it contribute;
  a concentration a mechanism writes (``cai`` of CaDynamics) is that
  mechanism's state, shared by every reader; otherwise it is a parameter
  with NEURON's default. The reversal potential is a parameter with NEURON's
  default unless some mechanism reads or writes a concentration of that ion:
  then it follows the Nernst equation (NEURON's ``ion_style``: computed at
  ``finitialize`` when a concentration is read — ``cachan1`` reading ``cai``
  gives ``eca`` = 127.59 mV at 6.3 degC, not the default 132.46 — and at
  every step when one is written, ``nrn_wrote_conc``);
- ``celsius`` comes from the model's temperature.

NEURON's order within a step (currents at ``v(t)``, ``t + dt/2``; the
voltage implicitly; then each mechanism's states with the new ``v``, the
concentrations with the currents of the first phase) is the solver's
business (``staggered``), not this pass's.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import sympy as sp

from ..errors import ModelImportError, OptionError, UnsupportedError
from ..ir.expr import DependencyCycle, dependency_order, sym
from ..ir.mechanism import Assignment, Condition, Derived, Input, Mechanism, OnEvent, Parameter, Source, State
from ..ir.units import NONE, Dim
from .compartment_params import _declared_unit_value, _held, netcon_handlers
from .neuron_order import neuron_order

# NEURON 9's physical constants (nrnunits, codata 2018, as the exact products
# e N_A and k N_A it uses: 8.314462618 gave eca 2e-9 mV off, 1.6e-11 relative)
FARADAY = 96485.3321233100184  # C/mol
GAS_R = 8.31446261815324       # J/(mol K)

# NEURON's ion defaults: erev (mV), inside and outside concentration (mM), valence
ION_DEFAULTS = {
    "na": (50.0, 10.0, 140.0, 1.0),
    "k": (-77.0, 54.4, 2.5, 1.0),
    "ca": (132.4579341637009, 5e-5, 2.0, 2.0),
}
OTHER_ION = (0.0, 1.0, 1.0, 1.0)

STEP = "@step"  # suffix of a column holding a value of the step's current phase

V = Dim(m=1, l=2, t=-3, i=-1)
CONC = Dim(l=-3, n=1)


@dataclass
class Inserted:
    """One mechanism in the compartment: a density mechanism (``label`` is
    its suffix) or a point process (``label`` like ``IClamp[0]``), with the
    parameter values that differ from the file's, in the units the file
    declares (as in NEURON: ``gbar = 10`` of a ``(pS/um2)`` parameter)."""
    mech: Mechanism
    label: str
    params: dict = field(default_factory=dict)
    netcons: tuple = ()  # a synapse's NetCons: the weight vector of each (its NET_RECEIVE arguments)

    @property
    def point(self) -> bool:
        return self.mech.kind == "point_process"


@dataclass
class Geometry:
    L: float = 100.0       # um
    diam: float = 500.0    # um
    cm: float = 1.0        # uF/cm2
    Ra: float = 35.4       # ohm cm

    @property
    def area(self) -> float:
        """NEURON's area of a one-segment cylinder (no end caps), um2."""
        return math.pi * self.L * self.diam


def _ion_of(name: str, ions: set[str]):
    """('e'|'i'|'c_in'|'c_out', ion) when ``name`` is an ion variable."""
    for ion in ions:
        if name == "e" + ion:
            return "e", ion
        if name == "i" + ion:
            return "i", ion
        if name == ion + "i":
            return "ci", ion
        if name == ion + "o":
            return "co", ion
    return None


class _Composer:
    def __init__(self, geometry: Geometry, inserted: list[Inserted], v_init: float, name: str,
                 phase_columns=()):
        self.geo, self.items, self.v_init, self.name = geometry, inserted, v_init, name
        self.phase_columns = tuple(phase_columns)
        self.params: dict[str, Parameter] = {}
        self.states: list[State] = []
        self.derived: dict[str, Derived] = {}
        self.derivs: dict[str, sp.Expr] = {}
        self.on_start: list[Assignment] = []
        self.v_start: list[Assignment] = []  # INITIAL's setting of v and what follows: after every INITIAL
        self.exposures: dict = {}
        self.units: dict[str, str] = {}
        self.unsupported: list[str] = []
        self.methods: dict[str, tuple] = {"v": ("v", "compartment")}
        self.current: list[str] = []  # derived values of the current phase (see current_phase)
        self.updates: list[tuple] = []  # (label, (Assignment, ...)): SOLVEd PROCEDUREs, NEURON's order
        self.conditions: list[Condition] = []  # a mechanism's OnConditions (a NeuroML cell's spike detector)
        self.on_events: list[OnEvent] = []  # NET_RECEIVE of a synapse, one handler per NetCon (port label#k)
        self.carried: list[tuple] = []  # (carry, derived): values kept between BREAKPOINT calls (renamed)
        self.alias: dict[str, str] = {}  # a value recorded from another column (x of a state-phase BREAKPOINT)

    # -- helpers ------------------------------------------------------------------
    def _param(self, name, value, unit="", dim=NONE, desc="", origin="compartment"):
        if name not in self.params:
            self.params[name] = Parameter(name, float(value), dim, unit, desc, source=Source(origin=origin))
            self.units[name] = unit

    def _derive(self, name, expr, unit="", dim=None, origin="compartment"):
        if name in self.derived:
            raise ModelImportError(f"two definitions of '{name}' in one compartment")
        self.derived[name] = Derived(name, expr, dim, Source(origin=origin))
        self.units.setdefault(name, unit)

    def _local(self, it: Inserted, x: str) -> str:
        return f"{it.label}.{x}" if it.point else f"{x}_{it.label}"

    # -- composition ------------------------------------------------------------------
    def compose(self) -> Mechanism:
        geo = self.geo
        ions: dict[str, float] = {}  # ion -> valence
        # "cai" -> label of the mechanism whose state it is; "eca" -> the mechanism
        # that WRITEs it (its value of eca is the ion's, no Nernst, no default)
        writes_conc: dict[str, str] = {}
        uses_conc: set[str] = set()  # ions some mechanism reads or writes a concentration of
        for it in self.items:
            m = it.mech
            _memo(_check_function_tables, m)
            if m.unsupported:
                self.unsupported += list(m.unsupported)
            if m.steady_state:
                self.unsupported.append(f"{m.name}: SOLVE ... STEADYSTATE that is not a linear scheme "
                                        f"({m.source})")
            for use in m.ions:
                ions.setdefault(use.ion, use.valence or ION_DEFAULTS.get(use.ion, OTHER_ION)[3])
                if any((_ion_of(x, {use.ion}) or ("",))[0] in ("ci", "co") for x in use.read + use.write):
                    uses_conc.add(use.ion)
                for w in use.write:
                    kind = _ion_of(w, {use.ion})
                    if not kind or kind[0] not in ("ci", "co", "e"):
                        continue
                    if w in writes_conc:
                        self.unsupported.append(f"{w} written by both {writes_conc[w]} and {it.label}")
                    writes_conc[w] = it.label
                    if kind[0] == "e":
                        self.unsupported += _reversal_write_refusals(m, w, ions)
                    elif w not in {x.name for x in m.states} | {d.name for d in m.derived}:
                        self.unsupported.append(
                            f"{it.label} writes {w} but the imported mechanism gives it no value "
                            f"(an assignment such as '{w} = ...' inside a DERIVATIVE block is not "
                            f"carried by the importer) ({m.source.file})")
        if self.unsupported:
            raise UnsupportedError(self.unsupported)

        # the compartment
        self.states.append(State("v", V, "membrane potential", Source(origin="compartment")))
        self.units["v"] = "mV"
        self._param("v_init", self.v_init, "mV", V, "initial membrane potential")
        self._param("cm", geo.cm, "uF/cm2", NONE, "specific membrane capacitance")
        self._param("L", geo.L, "um", NONE, "length")
        self._param("diam", geo.diam, "um", NONE, "diameter")
        self._param("area", geo.area, "um2", NONE, "membrane area (pi L diam)")
        self._param("Ra", geo.Ra, "ohm cm", NONE, "axial resistivity")
        self._derive("celsius", sym("temperature") - sp.Float(273.15), "degC")
        self.on_start.append(Assignment("v", sym("v_init")))

        # ions: concentrations, reversal potentials
        for ion, z in ions.items():
            e0, ci0, co0, _z = ION_DEFAULTS.get(ion, OTHER_ION)
            for cname, c0 in ((ion + "i", ci0), (ion + "o", co0)):
                init = f"{cname}0_{ion}_ion"
                self._param(init, c0, "mM", CONC, f"initial {cname} (NEURON's {init})", origin=f"{ion}_ion")
                if cname not in writes_conc:
                    self._derive(cname, sym(init), "mM", CONC, origin=f"{ion}_ion")
            if "e" + ion in writes_conc:
                pass  # a mechanism's value (see _add)
            elif ion in uses_conc:
                # NEURON's ion_style: a concentration read or written makes the
                # reversal potential follow Nernst (at finitialize, and at every
                # step when written; a concentration only read stays constant)
                ktf = 1000.0 * GAS_R / FARADAY  # mV per kelvin
                # temperature, never celsius + 273.15: sympy would distribute
                # ktf over the sum (eca 9 ulp from NEURON's ktf*(celsius+273.15))
                T = sym("temperature")
                self._derive("e" + ion, ktf * T / z * sp.log(sym(ion + "o") / sym(ion + "i")), "mV", V,
                             origin=f"{ion}_ion (Nernst)")
            else:
                self._param("e" + ion, e0, "mV", V, f"{ion} reversal potential", origin=f"{ion}_ion")

        # the mechanisms
        contrib: dict[str, list] = {ion: [] for ion in ions}
        dens, pp, electrode = [], [], []
        for it in sorted(self.items, key=neuron_order):
            self._add(it, ions, writes_conc, contrib, dens, pp, electrode)
        self.on_start += self.v_start

        for ion, terms in contrib.items():
            self._derive("i" + ion, sp.Add(*terms) if terms else sp.Integer(0), "mA/cm2", origin=f"{ion}_ion")
        a = sym("area")
        i_mem = sp.Add(*dens) + sp.Float(100.0) / a * (sp.Add(*pp) - sp.Add(*electrode))
        self._derive("i_membrane", i_mem, "mA/cm2")
        self.derivs["v"] = -sp.Float(1000.0) * sym("i_membrane") / sym("cm")

        derived = _toposort(self.derived)
        # NEURON computes a Nernst reversal potential in the ion's own current
        # function (its nrn_cur, first of the step's current phase) from the
        # concentrations at t: the state phase reads that value, and a Vector
        # records it (at t + dt: the value from the start of the step)
        nernst = tuple("e" + ion for ion in ions if ion in uses_conc and "e" + ion not in writes_conc
                       and (ion + "i" in writes_conc or ion + "o" in writes_conc))
        frozen = tuple("i" + ion for ion in ions) + nernst + tuple(self.current)
        steps = {}
        for x in self.phase_columns:
            if x in frozen:
                # NEURON records the value of the step's current phase (t + dt/2,
                # v(t), the states at t): a column the staggered step writes
                col = x + STEP
                self.states.append(State(col, NONE, f"{x} of the step's current phase",
                                         Source(origin="compartment")))
                self.derivs[col] = sp.Integer(0)
                self.methods[col] = ("step", x)
                # a carried value's last call is its carry (a third evaluation would
                # advance a counter BREAKPOINT increments)
                self.on_start.append(Assignment(col, sym(dict((d, c) for c, d in self.carried).get(x, x))))
                self.units[col] = self.units.get(x, "")
                steps[x] = col
        for name in list(self.params) + [s.name for s in self.states] + [d.name for d in derived]:
            self.exposures[name] = (self.alias.get(name, steps.get(name, name)), NONE)
        return Mechanism(
            name=self.name, kind="cell", component_type="NEURON-style compartment",
            parameters=tuple(self.params.values()), states=tuple(self.states), derived=tuple(derived),
            derivatives=dict(self.derivs), inputs=(Input("temperature", Dim(k=1), "global"),),
            on_start=tuple(self.on_start), conditions=tuple(self.conditions), exposures=dict(self.exposures),
            on_events=tuple(self.on_events),
            source=Source(origin="compartment"), units="neuron",
            solves=tuple((it.label, m) for it in self.items for _b, m in it.mech.solves),
            methods=dict(self.methods), frozen=frozen, updates=tuple(self.updates), carried=tuple(self.carried))

    def _add(self, it: Inserted, ions, writes_conc, contrib, dens, pp, electrode):
        m = it.mech
        it = _held(it)
        ion_names = set(ions)
        ren: dict[sp.Symbol, sp.Symbol] = {}
        values = {}
        for p in m.parameters:
            new = self._local(it, p.name)
            ren[sym(p.name)] = sym(new)
            value = _declared_unit_value(p, it.params[p.name]) if p.name in it.params else p.value
            values[p.name] = value
            self._param(new, value, p.unit, p.dim, p.description, origin=m.name)
        from ..importers.nmodl_verbatim import check_parameters

        check_parameters(m, f"{self.name}/{it.label}", values)   # a hoc_execerror branch its parameters take
        for s in m.states:
            kind = _ion_of(s.name, ion_names)
            if kind and kind[0] in ("ci", "co", "e") and writes_conc.get(s.name) == it.label:
                new = s.name  # the ion's concentration (or reversal potential) is this state
            else:
                new = self._local(it, s.name)
            ren[sym(s.name)] = sym(new)
            self.states.append(State(new, s.dim, s.description, s.source))
            self.units[new] = ""
        for d in m.derived:
            kind = _ion_of(d.name, ion_names)
            if kind and kind[0] in ("ci", "co", "e") and writes_conc.get(d.name) == it.label:
                # a concentration or reversal potential this mechanism assigns (not a state): the ion's
                new = d.name
            else:
                new = self._local(it, d.name)
            ren[sym(d.name)] = sym(new)
        for inp in m.inputs:
            n = inp.name
            if n in ("v", "celsius", "area", "diam"):
                continue
            if n == "t":
                continue
            if n == "dt":
                dt = sym("dt")
                if any(dt in e.free_symbols for e in [d.expr for d in m.derived] + list(m.derivatives.values())):
                    raise UnsupportedError([f"{m.name}: reads dt outside a SOLVEd PROCEDURE ({m.source})"])
                continue  # the step's dt, in the updates (staggered) and INITIAL
            if n.endswith("@ion") and _ion_of(n[:-4], ion_names):
                # a mechanism's read of the ion's total current in its SOLVEd
                # block (cabpump's ica): the shared value, which the staggered
                # state phase holds at the current phase's total
                ren[sym(n)] = sym(n[:-4])
                continue
            kind = _ion_of(n, ion_names)
            if kind is not None:
                continue  # the shared ion variable, same name
            if n.endswith("_ion") and n.count("_") >= 2:  # cai0_ca_ion and friends
                continue
            # a GLOBAL of another mechanism or an unknown name: a parameter
            self._param(n, 0.0, "", NONE, "input", origin=m.name)
        phase = current_phase(m)
        rk = frozenset(ren.items())

        def rx(e):  # e renamed; a mechanism in several compositions is renamed once (memo)
            hit = _RENAMED.get((id(e), rk))
            if hit is None or hit[0] is not e:
                hit = _RENAMED[id(e), rk] = (e, e.xreplace(ren))
            return hit[1]

        held = _carried_phase(m, phase)
        for d in m.derived:
            new = ren[sym(d.name)].name
            self._derive(new, rx(d.expr), origin=m.name)
            if d.name in phase or d.name in held:
                self.current.append(new)
        self.carried += [(ren[sym(c)].name, ren[sym(d)].name) for c, d in m.carried]
        if not m.currents:
            # BREAKPOINT in NEURON's state phase (no current): x is recorded as its
            # update x@prev left it (the current phase's x is a step early)
            self.alias.update({ren[sym(a.variable[:-5])].name: ren[sym(a.variable)].name
                               for _b, assigns in m.updates for a in assigns
                               if a.variable.endswith("@prev") and sym(a.variable[:-5]) in ren})
        if any(not c.endswith("@prev") for c, _d in m.carried):
            # a STATE BREAKPOINT assigns: only ``staggered`` evaluates NEURON's
            # two calls (the cell refuses other solvers for a mechanism with updates)
            self.updates.append((it.label, ()))
        method = m.solves[0][1] if m.solves else "none"
        for s, e in m.derivatives.items():
            self.derivs[ren[sym(s)].name] = rx(e)
            self.methods[ren[sym(s)].name] = (method, it.label)
        late = False
        for a in m.on_start:
            # INITIAL values that read dt (CaT's mexp) are recomputed by the first
            # update before anything reads them: at initialisation dt is 0
            expr = rx(a.expr).xreplace({sym("dt"): sp.Integer(0)})
            # INITIAL's zero-delay self-event setting v (izhi2007b's v = vr), and what follows
            # it: after every mechanism's INITIAL (NEURON delivers it at the end of finitialize)
            late = late or a.variable == "v"
            if late:
                self.v_start.append(Assignment(ren.get(sym(a.variable), sym(a.variable)).name, expr))
                continue
            self.on_start.append(Assignment(ren[sym(a.variable)].name, expr))
        for _proc, assigns in m.updates:
            upd = tuple(Assignment(ren[sym(a.variable)].name, rx(a.expr)) for a in assigns)
            self.updates.append((it.label, upd))
            for a in upd:
                self.methods[a.variable] = ("update", it.label)
        for c in m.conditions:  # (a NET_RECEIVE's WATCH may assign v)
            self.conditions.append(replace(c, test=c.test.xreplace(ren), assignments=tuple(
                Assignment(ren.get(sym(a.variable), sym(a.variable)).name, a.expr.xreplace(ren))
                for a in c.assignments)))
        for h in m.on_events:
            h = replace(h, assignments=tuple(Assignment(ren.get(sym(a.variable), sym(a.variable)).name,
                                                        a.expr.xreplace(ren)) for a in h.assignments))
            self.on_events += netcon_handlers(h, it.label, it.netcons, lambda n, v, k, j, it=it, m=m: self._param(
                n, v, "", NONE, f"weight[{j}] of NetCon {k} onto {it.label}", origin=m.name))
        for c in m.currents:
            expr = ren.get(sym(c.variable), sym(c.variable))
            if c.kind == "electrode":
                electrode.append(expr)
                continue
            if c.ion:
                if it.point:
                    contrib[c.ion].append(sp.Float(100.0) / sym("area") * expr)
                else:
                    contrib[c.ion].append(expr)
            (pp if it.point else dens).append(expr)


def _carried_phase(m: Mechanism, phase: set[str]) -> set[str]:
    """The values of ``m``'s current phase that read a carried value
    (:attr:`Mechanism.carried`), and the carried values themselves: held at
    the current phase's value (NEURON's storage after its second call), never
    evaluated again. A mechanism with a current and no SOLVE: all its
    values (BREAKPOINT's, all of the current phase)."""
    if m.currents and not m.solves:
        # no SOLVE: every value is BREAKPOINT's, computed in nrn_cur at v(t)
        # (what NEURON records: cl_leak's i at v(t), not v(t + dt))
        return {d.name for d in m.derived}
    if not m.carried:
        return set()
    out = {d for _c, d in m.carried}
    reads = {c for c, _d in m.carried}
    for d in m.derived:
        if (d.name in phase or not m.solves) and {a.name for a in d.expr.free_symbols} & (reads | out):
            out.add(d.name)
    return out


def _reversal_write_refusals(m: Mechanism, w: str, ions) -> list[str]:
    """Why ``m``'s WRITE of the reversal potential ``w`` cannot be lowered
    (empty when it can). Lowered: in a mechanism without a current, a value
    BREAKPOINT assigns from the mechanism's states and parameters and the
    ion concentrations. NEURON stores it when that BREAKPOINT runs (in the
    state phase, after the concentration writers: the step's new
    concentrations; recorded so) and the next current phase reads the
    stored value; evaluated from the state where it is read, it is the same
    number, except for what differs there: ``v`` (the current phase also
    evaluates at v + 0.001 for di/dv), ``t``, ``dt`` and the ion currents
    (refused)."""
    d = {x.name: x.expr for x in m.derived}
    if w not in d:
        return [f"{m.name} writes {w} but the imported mechanism gives it no value ({m.source.file})"]
    if m.currents:
        # NEURON stores it in its current phase (twice: at v + 0.001, then v);
        # a mechanism before the writer in its order reads the previous step's
        return [f"{m.name} writes {w} and has a current: NEURON stores {w} in its current phase, where "
                f"the mechanisms before it in NEURON's order read the previous step's; not lowered "
                f"({_useion_line(m, w)})"]
    seen, todo = set(), [w]
    while todo:
        for a in d[todo.pop()].free_symbols:
            if a.name not in seen:
                seen.add(a.name)
                if a.name in d:
                    todo.append(a.name)
    bad = sorted(seen & ({"v", "t", "dt"} | {"i" + ion for ion in ions} | {f"i{ion}@ion" for ion in ions}))
    if bad:
        return [f"{m.name} writes {w} from {', '.join(bad)}: NEURON's stored value of it is a phase "
                f"earlier than the one nmlcell would evaluate, not lowered ({_useion_line(m, w)})"]
    return []


def _useion_line(m: Mechanism, w: str) -> str:
    """``file:line`` of the USEION statement that WRITEs ``w`` (the file alone
    when it cannot be read)."""
    from pathlib import Path

    f = m.source.file
    if not f:
        return m.name
    try:
        lines = Path(f).read_text(errors="replace").splitlines()
    except OSError:
        return str(f)
    pat = re.compile(rf"\bUSEION\b.*\bWRITE\b.*\b{re.escape(w)}\b")
    hit = next((k for k, ln in enumerate(lines, 1) if pat.search(ln)), None)
    return f"{Path(f).name}:{hit}" if hit else str(f)


_RENAMED: dict = {}  # (id(expr), renaming) -> (expr, renamed expr)
_MEMO: dict = {}     # (function, id(mechanism)) -> (mechanism, result)


def _memo(fn, m):
    """``fn(m)`` once per mechanism object (a mechanism is composed into
    several compartments)."""
    hit = _MEMO.get((fn, id(m)))
    if hit is None or hit[0] is not m:
        hit = _MEMO[fn, id(m)] = (m, fn(m))
    return hit[1]


def current_phase(m: Mechanism) -> set[str]:
    """The derived values of ``m`` that NEURON computes in BREAKPOINT outside
    its SOLVE (in ``nrn_cur``, at ``v(t)`` and the states at ``t``) and that
    the SOLVEd block reads from the mechanism's storage: ``rates(v)`` called
    in BREAKPOINT before ``SOLVE kstates METHOD sparse`` (caL3d.mod) gives
    the kinetic scheme rates of the old voltage, not the new one. The NMODL
    importer finds them on the file's syntax tree
    (:attr:`Mechanism.current_phase <nmlcell.ir.mechanism.Mechanism.current_phase>`)."""
    return set(m.current_phase) if m.solves else set()


def _check_function_tables(m: Mechanism) -> None:
    """A FUNCTION_TABLE called without data stops the run, as in NEURON
    ("table not specified in hoc_func_table"): OptionError naming the
    table, its file and line."""
    from ..importers.nmodl_table import function_tables

    missing = function_tables(m)
    if missing:
        name, (_n, file, line) = sorted(missing.items())[0]
        others = f" (also {', '.join(sorted(missing)[1:])})" if len(missing) > 1 else ""
        raise OptionError(f"FUNCTION_TABLE {name} of {m.name} has no data{others}: give it with "
                          f"cell.insert(..., tables={{'{name}': {{'x': [...], 'y': [...]}}}}) or a constant, "
                          f"as NEURON's table_{name}_{m.name}(yvec, xvec) (NEURON stops too: \"table not "
                          f"specified in hoc_func_table\")", file=file, line=line or None,
                          element=f"FUNCTION_TABLE {name}")


def _toposort(derived: dict[str, Derived]) -> list[Derived]:
    try:
        return [derived[k] for k in dependency_order({k: d.expr for k, d in derived.items()})]
    except DependencyCycle as e:
        raise ModelImportError(f"circular definitions in the compartment: {e}") from None


def compose(geometry: Geometry, inserted: list[Inserted], *, v_init: float = -65.0,
            name: str = "cell", phase_columns=()) -> tuple[Mechanism, dict[str, str]]:
    """The compartment's Mechanism and the NEURON unit of each of its names.

    ``phase_columns``: current-phase values (ion currents such as ``ina``,
    values a mechanism assigns in BREAKPOINT) to record as NEURON does, at
    ``t + dt/2`` from the step's old ``v`` and states: each gets a column
    ``<name>@step`` that only the ``staggered`` solver writes (another
    solver leaves it at its initial value), and ``<name>`` is recorded from
    it. Names that are not current-phase values are ignored."""
    c = _Composer(geometry, inserted, v_init, name, phase_columns)
    mech = c.compose()
    return mech, c.units
