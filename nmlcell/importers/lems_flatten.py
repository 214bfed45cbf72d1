"""Flatten a resolved LEMS component tree into one IR :class:`Mechanism`.

This is the one generic path of DESIGN.md: any ComponentType with Dynamics
(core NeuroML or the user's own) becomes parameters, states, derived
variables, time derivatives and event handlers, named by their LEMS path
below the root. Requirements are satisfied by the nearest ancestor that
defines the name, as in LEMS; those left at the root become the
mechanism's inputs (time, temperature, a membrane potential...).
Attachments (``synapses[*]/i``) become summed inputs fed by links.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from ..errors import ModelImportError
from ..ir.expr import DependencyCycle, dependency_order, parse, sym
from ..ir.mechanism import (Assignment, Condition, Derived, Input, Mechanism, Parameter, Source,
                            State)
from ..ir.units import NONE, Dim, display_unit
from .lems_events import EventRouting
from .lems_regimes import RegimesAndHandlers

_SEL = re.compile(r"^(?P<name>[A-Za-z_][\w]*)(\[(?P<pred>[^\]]*)\])?$")

# Requirements that are global to a simulation rather than per instance.
GLOBAL_INPUTS = {"temperature"}


@dataclass
class _Node:
    fc: object
    prefix: str                      # "" at root, else "a/b/"
    parent: "_Node | None"
    names: dict = field(default_factory=dict)     # local name -> sympy expr
    exposures: dict = field(default_factory=dict)  # exposure name -> sympy expr
    kids: list = field(default_factory=list)       # (slot, id, _Node)
    texts: dict = field(default_factory=dict)
    regimes: dict = field(default_factory=dict)    # Regime name -> index
    on_entry: dict = field(default_factory=dict)   # Regime name -> OnEntry actions
    alias: str = ""    # the prefix with single Child slots named by slot, not id ("biophysicalProperties/")

    def lookup(self, name):
        n = self
        while n is not None:
            if name in n.names:
                return n.names[name]
            n = n.parent
        return None


class _Env(dict):
    """Expression environment: local names, then declared Requirements
    (resolved up the tree as LEMS does), then time, then (leniently) any
    ancestor's name."""

    def __init__(self, node: _Node, flat: "Flattener"):
        super().__init__()
        self.node, self.flat = node, flat

    def _get(self, k):
        if k in self.node.names:
            return self.node.names[k]
        v = self.flat._requirement(self.node, k)
        if v is not None:
            return v
        if k == "t":
            return self.flat.t
        return self.node.lookup(k)

    def __contains__(self, k):
        return self._get(k) is not None

    def random(self, x):
        """LEMS ``random(x)``: uniform on [0, x), one draw per call site,
        instance and evaluation (see :meth:`Flattener.random`)."""
        return self.flat.random(x)

    def __getitem__(self, k):
        v = self._get(k)
        if v is None:
            raise KeyError(k)
        return v


def _exposure_dim(fc, name):
    """The dimension an Exposure declares (for a DerivedVariable that
    declares none, as gapJunction's ``i``: jLEMS's value is SI of it)."""
    if not name:
        return None
    try:
        return fc.exposures[name].dimension
    except Exception:
        return None


def extends(model, tname: str, base: str) -> bool:
    """Is ComponentType ``tname`` ``base`` or derived from it (resolved pylems model)?"""
    if tname == base:
        return True
    try:
        ct = model.component_types[tname]
    except Exception:
        return False
    return base in (getattr(ct, "types", None) or ()) or ct.extends == base


class Flattener(EventRouting, RegimesAndHandlers):
    """Flatten one FatComponent tree. ``model`` is the resolved pylems model
    (for component-type inheritance and dimensions); ``locate(id)`` maps a
    component id to (file, line) for messages."""

    def __init__(self, model, locate=None, instance_reqs=None):
        self.model = model
        self.instance_reqs = instance_reqs or {}  # type -> InstanceRequirement names (gapJunction's peer)
        self.locate = locate or (lambda cid: (None, None))
        self.t = sym("t")

    def random(self, x):
        """``x`` times a uniform [0, 1) input ``__random<k>`` of kind
        "random": the lowering draws it from the run's key (the LEMS
        ``<Simulation seed>`` or ``seed=``), per instance and time."""
        name = f"__random{sum(1 for i in self.inputs.values() if i.kind == 'random')}"
        self.inputs[name] = Input(name, NONE, "random")
        return x * sym(name)

    def _instance_reqs(self, tname):
        out = set(self.instance_reqs.get(tname, ()))
        for t, names in self.instance_reqs.items():
            if t != tname and self._extends(tname, t):
                out |= set(names)
        return out

    # -- type helpers -------------------------------------------------
    def _extends(self, tname: str, base: str) -> bool:
        return extends(self.model, tname, base)

    def _dim(self, dname) -> Dim:
        if not dname or dname == "none":
            return NONE
        try:
            d = self.model.dimensions[dname]
        except Exception:
            raise ModelImportError(f"unknown dimension '{dname}'") from None
        return Dim(m=d.m, l=d.l, t=d.t, i=d.i, k=d.k, n=d.n, j=d.j)

    # -- entry point --------------------------------------------------
    def flatten(self, fc, *, name: str, kind: str) -> Mechanism:
        file, line = self.locate(fc.id)
        self._file = file
        self.params: list[Parameter] = []
        self.states: list[State] = []
        self.derived: dict[str, Derived] = {}
        self.derivs: dict[str, sp.Expr] = {}
        self.inputs: dict[str, Input] = {}
        self.on_start: list[Assignment] = []
        self.conditions: list[Condition] = []
        self.unsupported: list[str] = []
        self.dims: dict[str, Dim] = {}
        self.exposures: dict[str, tuple[str, Dim]] = {}
        self._pending: list = []
        self.lags: list = []
        self.leads: list = []
        self.kinetic: list = []
        self._dynamic_derived: set = set()  # DerivedVariables (not DerivedParameters)
        self._regime_derivs: dict = {}
        self._regime_exposed: set = set()  # states a Regime updates: exposed one step old (jLEMS)
        self.regime_states: dict = {}
        self.sequential: list = []
        self._handlers: dict = {}   # (id(node), port) -> (node, assignments, events, src)
        self._nested_conds: list = []
        root = self._build(fc, "", None)
        self._root = root
        for job in self._pending:
            job()
        on_events = self._route_events(root)
        self._merge_regime_derivatives()
        self._expose_regime_states()
        derived = self._order_derived()
        return Mechanism(
            name=name, kind=kind, component_type=fc.type, parameters=tuple(self.params),
            states=tuple(self.states), derived=tuple(derived), derivatives=dict(self.derivs),
            inputs=tuple(self.inputs.values()), on_start=tuple(self.on_start),
            conditions=tuple(self.conditions), exposures=dict(self.exposures),
            unsupported=tuple(self.unsupported), source=Source(file, line, fc.type),
            lags=tuple(self.lags), leads=tuple(self.leads), kinetic=tuple(self.kinetic),
            regimes=dict(self.regime_states),
            sequential=tuple(self.sequential), on_events=on_events)

    # -- tree construction ---------------------------------------------
    def _slots(self, fc):
        out = []
        for ch in fc.children:
            out.append((ch.name, ch.type, bool(getattr(ch, "multiple", False))))
        return out

    def _build(self, fc, prefix: str, parent, alias: str | None = None):
        node = _Node(fc=fc, prefix=prefix, parent=parent, alias=prefix if alias is None else alias)
        src = Source(*self.locate(fc.id), fc.type)
        for t in fc.texts:
            node.texts[t.name] = t.value
        for p in fc.parameters:
            self._param(node, p.name, p.numeric_value, p.dimension, src, p.description if hasattr(p, "description") else "")
        for p in getattr(fc, "properties", []):
            val = p.default_value if getattr(p, "default_value", None) is not None else 0.0
            self._param(node, p.name, float(val), p.dimension, src, "property")
        for c in fc.constants:
            self._param(node, c.name, c.numeric_value, c.dimension, src, getattr(c, "description", "") or "", constant=True)
        dyn = fc.dynamics
        for sv in dyn.state_variables:
            full = prefix + sv.name
            s = sym(full)
            node.names[sv.name] = s
            d = self._dim(sv.dimension)
            self.dims[full] = d
            self.states.append(State(full, d, getattr(sv, "description", "") or "", src))
            self._expose(node, sv.exposure or sv.name, full, d)
            if sv.exposure and sv.exposure != sv.name:
                self._expose(node, sv.name, full, d)
        for dp in fc.derived_parameters:
            full = prefix + dp.name
            node.names[dp.name] = sym(full)
            self.dims[full] = self._dim(dp.dimension)
            self._expose(node, dp.name, full, self.dims[full])
            self._pending.append(lambda n=node, dp=dp, full=full, src=src:
                                 self._derived_value(n, full, dp.value, src, "DerivedParameter"))
        for dv in dyn.derived_variables:
            full = prefix + dv.name
            node.names[dv.name] = sym(full)
            self._dynamic_derived.add(full)
            self.dims[full] = self._dim(dv.dimension or _exposure_dim(fc, dv.exposure))
            self._expose(node, dv.exposure or dv.name, full, self.dims[full])
            if dv.exposure and dv.exposure != dv.name:
                self._expose(node, dv.name, full, self.dims[full])
            if dv.value is not None and dv.value != "":
                self._pending.append(lambda n=node, dv=dv, full=full, src=src:
                                     self._derived_value(n, full, dv.value, src, "DerivedVariable"))
            else:
                self._pending.append(lambda n=node, dv=dv, full=full, src=src:
                                     self._derived_select(n, full, dv, src))
        for cdv in dyn.conditional_derived_variables:
            full = prefix + cdv.name
            node.names[cdv.name] = sym(full)
            self._dynamic_derived.add(full)
            self.dims[full] = self._dim(cdv.dimension)
            self._expose(node, cdv.exposure or cdv.name, full, self.dims[full])
            self._pending.append(lambda n=node, c=cdv, full=full, src=src: self._derived_cond(n, full, c, src))
        for td in dyn.time_derivatives:
            self._pending.append(lambda n=node, td=td, src=src: self._time_derivative(n, td, src))
        for eh in dyn.event_handlers:
            self._pending.append(lambda n=node, eh=eh, src=src: self._event_handler(n, eh, src))
        if len(getattr(dyn, "regimes", [])):
            self._regimes(node, dyn, src)
        for ks in getattr(dyn, "kinetic_schemes", []):
            self._pending.append(lambda n=node, ks=ks, src=src: self._kinetic_scheme(n, ks, src))
        # children: by slot
        slots = self._slots(fc)
        for ch in fc.child_components:
            slot = self._slot_of(ch, slots)
            single = any(n == slot and not mult for n, _t, mult in slots)
            kid = self._build(ch, prefix + ch.id + "/", node, node.alias + (slot if single else ch.id) + "/")
            node.kids.append((slot, ch.id, kid))
        for cref in fc.component_references:
            rc = cref.referenced_component
            if rc is None:
                continue
            kid = self._build(rc, prefix + rc.id + "/", node, node.alias + rc.id + "/")
            node.kids.append((cref.name, rc.id, kid))
        for att in getattr(fc, "attachments", []):
            node.kids.append((att.name, None, ("attachment", att.name)))
        return node

    def _slot_of(self, ch, slots):
        for name, typ, multiple in slots:
            if not multiple and name == ch.id:
                return name
        best = None
        for name, typ, multiple in slots:
            if self._extends(ch.type, typ):
                if best is None or (multiple and not best[1]):
                    best = (name, multiple)
        return best[0] if best else ch.id

    def _param(self, node, name, value, dimension, src, desc, constant=False):
        full = node.prefix + name
        d = self._dim(dimension)
        node.names[name] = sym(full)
        self.dims[full] = d
        self.params.append(Parameter(full, float(value) / d.scale, d, display_unit(d)[0] if d != NONE else "",
                                     desc or "", constant, src))
        self._expose(node, name, full, d)

    def _expose(self, node, ename, full, d):
        node.exposures[ename] = sym(full)
        self.exposures[full] = (full, d)
        if ename != full.rsplit("/", 1)[-1]:
            self.exposures[node.prefix + ename] = (full, d)
        if node.alias != node.prefix:  # LEMS paths may name a single Child by its slot
            for key in (full, node.prefix + ename):
                self.exposures.setdefault(node.alias + key[len(node.prefix):], (full, d))

    def _state_names(self):
        return {st.name for st in self.states}

    # -- requirements --------------------------------------------------
    def _requirement(self, node, name):
        declared = any(r.name == name for r in node.fc.requirements)
        if not declared:
            return None
        n = node.parent
        lag = 0  # ancestors in between that hold their own copy (jLEMS copies once a step)
        while n is not None:
            target = n.exposures.get(name, n.names.get(name))
            if target is not None:
                # jLEMS advances children before their parent: a requirement
                # reads the parent's DerivedVariables as computed in the
                # previous step (one step more than a state)
                k = lag + (1 if getattr(target, "name", None) in self._dynamic_derived else 0)
                k += 1 if getattr(target, "name", None) in self._regime_exposed else 0
                if k and (target.name in self._state_names() or target.name in self._dynamic_derived):
                    key = (target.name, k)
                    if key not in self.lags:
                        self.lags.append(key)
                    return sym(f"{target.name}@{k}")
                return target
            if any(r.name == name for r in n.fc.requirements):
                lag += 1
            n = n.parent
        # unresolved inside the tree: an input of the mechanism
        if name not in self.inputs:
            req = next(r for r in node.fc.requirements if r.name == name)
            kind = "global" if name in GLOBAL_INPUTS else "requirement"
            self.inputs[name] = Input(name, self._dim(req.dimension), kind)
        return sym(name)

    def _env(self, node):
        return _Env(node, self)

    def _parse(self, node, text, what, src):
        try:
            return parse(str(text), self._env(node), where=f" ({what} in {node.fc.type} '{node.fc.id}')",
                         file=src.file, line=src.line, element=node.fc.type)
        except ModelImportError as e:
            if "random() is not supported" not in e.message:
                raise
            # listed with every other unsupported construct; the value is never simulated
            self.unsupported.append(f"random() in {what} of {node.fc.type} '{node.fc.id}' ({src})")
            return sp.Integer(0)

    # -- dynamics --------------------------------------------------------
    def _derived_value(self, node, full, text, src, what):
        self.derived[full] = Derived(full, self._parse(node, text, f"{what} {full.rsplit('/',1)[-1]}", src),
                                     self.dims.get(full), src)

    def _derived_cond(self, node, full, cdv, src):
        pieces = []
        for case in cdv.cases:
            val = self._parse(node, case.value, f"Case of {cdv.name}", src)
            if case.condition:
                cond = self._parse(node, case.condition, f"Case of {cdv.name}", src)
                pieces.append((val, cond))
            else:
                pieces.append((val, True))
        if not any(c is True for _, c in pieces):
            # LEMS: the last case applies when none matches (jLEMS evaluates in order)
            pieces[-1] = (pieces[-1][0], True)
        self.derived[full] = Derived(full, sp.Piecewise(*pieces), self.dims.get(full), src)

    def _derived_select(self, node, full, dv, src):
        targets = self._select(node, dv.select, src)
        for x in targets:  # a peer's value (peer/v) has the dimension of what reads it
            inp = self.inputs.get(getattr(x, "name", None))
            if inp is not None and inp.kind == "requirement" and inp.dim is None:
                self.inputs[inp.name] = Input(inp.name, self._dim(dv.dimension), "requirement")
        reduce = (dv.reduce or "").lower()
        if reduce in ("add", "sum"):
            expr = sp.Add(*targets) if targets else sp.Integer(0)
        elif reduce in ("multiply", "product"):
            expr = sp.Mul(*targets) if targets else sp.Integer(1)
        else:
            if len(targets) > 1:
                raise ModelImportError(f"select '{dv.select}' of {dv.name} matches {len(targets)} values "
                                       f"but has no reduce", file=src.file, line=src.line, element=node.fc.type)
            expr = targets[0] if targets else sp.Integer(0)
        self.derived[full] = Derived(full, expr, self.dims.get(full), src)

    def _select(self, node, path, src):
        parts = [p for p in str(path).split("/") if p]
        if len(parts) == 2 and parts[0] in self._instance_reqs(node.fc.type):
            # a peer instance's value (gapJunction's peer/v): an input the network's links feed
            key = "/".join(parts)
            if key not in self.inputs:
                self.inputs[key] = Input(key, None, "requirement")
            return [sym(key)]
        current = [node]
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            m = _SEL.match(part)
            if not m:
                raise ModelImportError(f"cannot read select path '{path}'", file=src.file, line=src.line,
                                       element=node.fc.type)
            name, pred = m.group("name"), m.group("pred")
            nxt = []
            for n in current:
                if last and pred is None and (name in n.exposures or name in n.names):
                    target = n.exposures.get(name, n.names.get(name))
                    if (n is not node and getattr(target, "name", None) in self._state_names()
                            and target.name not in self._regime_exposed):  # those: as exposed, before the update
                        # jLEMS advances children before their parent: the
                        # parent reads a child's state after this step's update
                        if target.name not in self.leads:
                            self.leads.append(target.name)
                        target = sym(f"{target.name}@new")
                    nxt.append(target)
                    continue
                for slot, cid, kid in n.kids:
                    if slot == name or (cid == name and pred is None):
                        if isinstance(kid, tuple):  # attachment
                            if not last and k == len(parts) - 2:
                                exp = parts[-1]
                                key = f"{n.prefix}{name}[*]/{exp}"
                                if key not in self.inputs:
                                    self.inputs[key] = Input(key, None, "attachment", attachment=n.prefix + name,
                                                             exposure=exp)
                                nxt.append(("ATT", sym(key)))
                            continue
                        if pred and pred != "*" and not self._pred(kid, pred):
                            continue
                        nxt.append(kid)
            current = nxt
            if any(isinstance(c, tuple) and c and c[0] == "ATT" for c in current):
                return [c[1] for c in current if isinstance(c, tuple)]
        out = []
        for c in current:
            if isinstance(c, _Node):
                raise ModelImportError(f"select '{path}' names a component, not a variable",
                                       file=src.file, line=src.line, element=node.fc.type)
            out.append(c)
        return out

    def _pred(self, kid, pred):
        m = re.match(r"^\s*(\w+)\s*=\s*['\"]?([^'\"]*)['\"]?\s*$", pred)
        if not m:
            return True
        key, val = m.group(1), m.group(2)
        if key in kid.texts:
            return kid.texts[key] == val
        for p in kid.fc.parameters:
            if p.name == key:
                return str(p.value) == val
        return False

    def _time_derivative(self, node, td, src, regime=None, pos=0):
        target = node.names.get(td.variable)
        if target is None or target.name not in {s.name for s in self.states}:
            raise ModelImportError(f"TimeDerivative of '{td.variable}', which is not a StateVariable",
                                   file=src.file, line=src.line, element=node.fc.type)
        e = self._parse(node, td.value, f"TimeDerivative {td.variable}", src)
        if regime is None:
            self.derivs[target.name] = e
        else:  # d/dt in that regime only; elsewhere the main Dynamics' (or 0)
            self._regime_derivs.setdefault(target.name, []).append((regime, e, pos))

    # -- kinetic schemes -------------------------------------------------------
    def _kinetic_scheme(self, node, ks, src):
        """A KineticScheme: each node child's ``stateVariable`` is an
        occupancy; each edge child moves ``forwardRate * occ(source) -
        reverseRate * occ(target)`` per unit time from its source node to
        its target node (both named by the edge's Links). The occupancies
        start all in the first node, as in jNeuroML."""
        nodes = [(cid, kid) for slot, cid, kid in node.kids if slot == ks.nodes and isinstance(kid, _Node)]
        edges = [kid for slot, cid, kid in node.kids if slot == ks.edges and isinstance(kid, _Node)]

        def fail(msg):
            raise ModelImportError(f"KineticScheme '{ks.name}': {msg}", file=src.file, line=src.line,
                                   element=node.fc.type)

        if not nodes:
            fail(f"no '{ks.nodes}' children")
        occ = {}
        for cid, kid in nodes:
            s = kid.names.get(ks.state_variable)
            if s is None or s.name not in self._state_names():
                fail(f"'{cid}' has no state variable '{ks.state_variable}'")
            occ[cid] = s
        flux = {cid: sp.Integer(0) for cid in occ}
        for e in edges:
            links = {l.name: getattr(l, "value", None) for l in getattr(e.fc, "links", [])}
            a, b = links.get(ks.edge_source), links.get(ks.edge_target)
            if a not in occ or b not in occ:
                fail(f"transition '{e.fc.id}' links {ks.edge_source}='{a}', {ks.edge_target}='{b}', "
                     f"not both among {', '.join(occ)}")
            rf = e.exposures.get(ks.forward_rate, e.names.get(ks.forward_rate))
            rr = e.exposures.get(ks.reverse_rate, e.names.get(ks.reverse_rate))
            if rf is None or rr is None:
                fail(f"transition '{e.fc.id}' exposes no '{ks.forward_rate}'/'{ks.reverse_rate}'")
            j = rf * occ[a] - rr * occ[b]
            flux[a] -= j
            flux[b] += j
        for cid, s in occ.items():
            self.derivs[s.name] = flux[cid]
        self.kinetic.append(tuple(s.name for s in occ.values()))
        first = nodes[0][0]
        for cid, s in occ.items():
            self.on_start.append(Assignment(s.name, sp.Integer(1 if cid == first else 0)))

    # -- ordering ---------------------------------------------------------
    def _order_derived(self):
        try:
            names = dependency_order({k: d.expr for k, d in self.derived.items()})
        except DependencyCycle as e:
            d = self.derived[e.cycle[0]]
            raise ModelImportError("cycle in derived variables: " + str(e),
                                   file=d.source.file, line=d.source.line, element=d.source.origin) from None
        return [self.derived[k] for k in names]
