"""Import a LEMS simulation file or a NeuroML2 file into the IR.

pylems reads the files and resolves ComponentTypes (core NeuroML2 types
from pyNeuroML's jar, and the user's own); :mod:`.lems_flatten` turns each
cell and input component into a :class:`~nmlcell.ir.Mechanism`; this module
builds the network (populations, explicit inputs, input lists) and the
simulation spec (duration, dt, output files, displays).
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from ..errors import ModelImportError, UnitError
from ..ir.model import (Display, EventLink, EventOutputFile, EventSelection, Group, Line, Link, ModelIR,
                        Network, OutputColumn, OutputFile, SimulationSpec)
from .coretypes import core_types_dir
from .lems_check import TypeChecker
from .lems_flatten import Flattener, extends
from .lems_origins import equation_origins
from .lems_network import check_spike_times, projection, synaptic_connection, tunnel_projection
from .lems_si import apply_si_semantics
from .lems_source import TypeIndex
from .xmlcheck import SourceIndex, check_tree

_POP_INDEX = re.compile(r"^(?P<pop>[\w]+)\[(?P<i>\d+)\]$")
_INPUT_TARGET = re.compile(r"^\.\./(?P<pop>[\w]+)/(?P<i>\d+)/[\w]+$")


class _Reader:
    def __init__(self, path: Path):
        self.path = path
        self.core = core_types_dir()
        self.index = SourceIndex()

    def err(self, msg, cid=None, element=None, exc=ModelImportError):
        f, line = self.index.locate(cid) if cid else (str(self.path), None)
        tag = element or (self.index.where.get(cid, (None, None, None))[2] if cid else None)
        return exc(msg, file=f or str(self.path), line=line, element=tag)

    def load(self):
        import lems.api as lems
        from lems.parser.expr import ExprParser

        # jLEMS reads `.leq.`; pylems 0.6 only checks expressions' syntax
        # (nmlcell parses them itself) but lacks that operator
        ExprParser.op_priority.setdefault(".leq.", ExprParser.op_priority[".le."])

        m = lems.Model(include_includes=True, fail_on_missing_includes=True)
        m.add_include_directory(str(self.path.parent))
        for f in self.index.files:  # nested includes resolve next to the including file
            if str(f.parent) != str(self.path.parent):
                m.add_include_directory(str(f.parent))
        m.add_include_directory(str(self.core))
        _includes_next_to_files(m)
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                if self.path.suffix.lower() == ".nml" or self._root_tag() == "neuroml":
                    m.import_from_file(str(self.core / "NeuroML2CoreTypes.xml"))
                    m.import_from_file(str(self.core / "Simulation.xml"))
                m.import_from_file(str(self.path))
        except Exception as e:  # pylems raises plain exceptions
            raise ModelImportError(f"cannot read model: {_clean(e)}", file=str(self.path)) from None
        from .nml_cell import detach_multicompartment

        detach_multicompartment(m)  # read from libNeuroML instead (nml_cell.NmlCell)
        self.instance_reqs = _strip_unresolvable(m)
        lists = _detach_connection_lists(m)
        try:
            with contextlib.redirect_stdout(buf):
                self.model = m.resolve()
        except Exception as e:
            msg = _clean(e)
            cid = _quoted_id(msg, self.index)
            in_regime = _in_regime(msg, self.index.files)
            if in_regime is not None:
                raise in_regime from None
            if "Unable to resolve type" in msg or "unknown type" in msg.lower():
                raise self.err(f"unknown ComponentType: {msg}", cid) from None
            if cid is None:  # a reference to nothing: name the element that makes it
                hit = next(filter(None, map(self.index.referrer, re.findall(r"'([^']+)'", msg))), None)
                if hit:
                    raise ModelImportError(f"cannot resolve model: {msg}", file=hit[0], line=hit[1],
                                           element=hit[2]) from None
            raise self.err(f"cannot resolve model: {msg}", cid) from None
        for (net_id, k), kids in lists.items():
            self.model.components[net_id].children[k].children = kids
        return self.model

    def _root_tag(self):
        import xml.etree.ElementTree as ET

        for _ev, el in ET.iterparse(str(self.path), events=("start",)):
            return el.tag.split("}")[-1]

    def quantity(self, text, dim, cid, attr):
        try:
            return float(self.model.get_numeric_value(str(text), dim))
        except Exception as e:
            raise self.err(f"attribute {attr}='{text}' is not a valid {dim}: {_clean(e)}", cid,
                           exc=UnitError) from None


def _strip_unresolvable(m) -> dict:
    """pylems 0.6 refuses to resolve a ComponentType with an
    InstanceRequirement (gapJunction's and the graded synapses' ``peer``),
    a ComponentRequirement or IndexParameter (electricalConnection's
    populations and cells), a Tunnel, or a ``local`` ComponentReference
    (electricalProjection's populations).
    Networks are built from the components' attributes here, so these are
    dropped from the types before resolving; returns type name -> names of
    its instance requirements (the flattener reads ``peer/v`` as an input
    the network links feed)."""
    from lems.base.map import Map

    reqs = {}
    for ct in m.component_types:
        if len(ct.instance_requirements):
            reqs[ct.name] = tuple(ct.instance_requirements.keys())
            ct.instance_requirements = Map()
        if len(ct.component_requirements):
            ct.component_requirements = Map()
        if len(ct.index_parameters):  # electricalConnection's preCell: read from the attributes
            ct.index_parameters = Map()
            ct.structure.withs = Map()
        if len(ct.structure.tunnels):  # the Tunnel of a gap junction: built by lems_network
            ct.structure.tunnels = Map()
            ct.structure.withs = Map()
        local = [k for k, cr in ct.component_references.items() if getattr(cr, "local", False)]
        for k in local:
            del ct.component_references[k]
    return reqs


_LISTS = ("projection", "electricalProjection", "continuousProjection", "inputList")


def _detach_connection_lists(m) -> dict:
    """Before ``resolve()``: take the connections of every projection and
    the inputs of every inputList off the network (pylems would copy and
    resolve each one: about 1 ms per connection, 16 s for 8800); they are
    read from their attributes (:mod:`.lems_network`). Returns
    (network id, child position) -> the children, to put back on the
    resolved model."""
    out = {}
    for c in m.components:
        for k, ch in enumerate(getattr(c, "children", ())):
            if ch.type in _LISTS and ch.children:
                out[(c.id, k)] = ch.children
                ch.children = []
    return out


def _in_regime(msg: str, files):
    """pylems reads an element it does not know inside a ``<Regime>`` (an
    ``OnEvent``, which jLEMS accepts there) as a component of an unknown
    type, and fails on it with "Unable to resolve type 'OnEvent'". The
    error naming that element in the user's types, else ``None``."""
    m = re.search(r"Unable to resolve type '([\w:]+)'", msg)
    if m is None:
        return None
    for t in TypeIndex(files).types.values():
        for e in t.elements:
            if e.tag == m.group(1) and e.regime is not None and e.parents[-1:] == ("Regime",):
                return ModelImportError(f"inside <Regime name=\"{e.regime}\"> of ComponentType '{t.name}': "
                                        f"not supported (pyLEMS cannot read it)", file=t.file, line=e.line,
                                        element=e.tag)
    return None


def _clean(e) -> str:
    return " ".join(str(e).split())


def _quoted_id(msg, index):
    for q in re.findall(r"'([^']+)'", msg):
        if q in index.where:
            return q
    return None


def _cache_key(rd: _Reader, duration, dt) -> str | None:
    import hashlib

    from .. import __version__

    h = hashlib.sha256(f"{__version__}|{duration}|{dt}|{rd.core}".encode())
    pkg = Path(__file__).resolve().parents[1]
    # the multi-compartment path composes through passes/ and cable_cell.py
    for sub in ("importers", "ir", "passes"):
        for f in sorted((pkg / sub).glob("*.py")):
            h.update(f.read_bytes())
    h.update((pkg / "cable_cell.py").read_bytes())
    for f in rd.index.files:
        h.update(str(f).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:32]


@contextlib.contextmanager
def _gc_paused():
    """Python's cyclic garbage collector off for the import, back on after.
    An import allocates hundreds of thousands of objects that stay alive
    (libNeuroML's document, pylems's components, sympy's expressions);
    each time they have grown by a quarter, CPython 3.11 runs a full
    collection over all of them, which finds almost nothing. Hay's L5PC:
    6 full collections, 0.4-1.4 s of wall time in the import on the shared
    machine; paused, the import takes 0.3-0.5 CPU s less (of about 2) at
    the same peak memory. The little cyclic garbage the import leaves is
    collected after, as usual."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def import_lems(path, *, duration: float | None = None, dt: float | None = None) -> ModelIR:
    """Import with a cache: the IR of an unchanged file set is read back
    from ``~/.cache/nmlcell/ir`` (pylems and sympy are skipped then)."""
    with _gc_paused():
        return _import_cached(path, duration, dt)


def _import_cached(path, duration, dt) -> ModelIR:
    from .._config import cache_dir, read_cached, write_cached

    path = Path(path)
    rd = _Reader(path)
    check_tree(path, [path.parent], rd.index, rd.core)
    _prebuild_early(rd.index)
    cd = cache_dir()
    cfile = None
    if cd is not None:
        cfile = cd / "ir" / f"{_cache_key(rd, duration, dt)}.pkl"
        cached = read_cached(cfile)
        if cached is not None:
            return cached
    ir = _import_lems(rd, path, duration, dt)
    if cfile is not None:
        write_cached(cfile, ir)
    return ir


def _prebuild_early(index) -> None:
    """Start the C++ tree kernel's background build (see
    :func:`.nml_cell.prebuild_tree_kernel`) as soon as the files show a
    multi-compartment cell (an id on more than one ``<segment>``): its
    one-time g++ build then overlaps pylems and the whole import, not only
    the part after pylems (Hay's L5PC: about 0.5 s earlier). A model
    without one starts nothing here."""
    segments = 0
    for _f, _line, tag in index.where.values():
        if tag.rsplit(":", 1)[-1] == "segment":
            segments += 1
            if segments > 1:
                from .nml_cell import prebuild_tree_kernel

                prebuild_tree_kernel()
                return


def _import_lems(rd, path, duration, dt) -> ModelIR:
    model = rd.load()
    flat = Flattener(model, rd.index.locate, instance_reqs=rd.instance_reqs)
    rd.checker = TypeChecker(model, TypeIndex(rd.index.files, rd.core), rd.instance_reqs)
    rd.origins = {}

    sim = _simulation(rd, model)
    if sim is not None:
        net_id = model.components[sim.id].parameters.get("target")
    else:
        net_id = None
    net_comp = _network(rd, model, net_id)
    network, unsupported = _build_network(rd, model, flat, net_comp)
    if getattr(rd, "multicompartment", None) is not None and sim is not None:
        from .nml_cell_network import rename_quantities

        sim = rename_quantities(rd.multicompartment, sim, unsupported)
    if sim is None:
        if duration is None or dt is None:
            raise ModelImportError("no <Simulation> in this file: give --duration and --dt "
                                   "(Python: nmlcell.load(path, duration=..., dt=...))", file=str(path))
        sim = SimulationSpec(id="sim", duration=float(duration), dt=float(dt))
    name = network.id
    return ModelIR(name=name, file=str(path), network=network, simulation=sim,
                   unsupported=tuple(unsupported), origins=rd.origins)


def _simulation(rd: _Reader, model):
    sim_id = None
    if model.targets:
        sim_id = model.targets[0]
    else:
        for c in model.components:
            if c.type == "Simulation":
                sim_id = c.id
                break
    if sim_id is None:
        return None
    if sim_id not in model.components:
        raise rd.err(f"<Target component='{sim_id}'> names no component", element="Target")
    c = model.components[sim_id]
    P = c.parameters
    length = rd.quantity(P.get("length"), "time", sim_id, "length") * 1e3
    step = rd.quantity(P.get("step"), "time", sim_id, "step") * 1e3
    outputs, events, displays = [], [], []
    for ch in c.children:
        if ch.type == "OutputFile":
            cols = tuple(OutputColumn(cc.id, cc.parameters["quantity"]) for cc in ch.children
                         if cc.type == "OutputColumn")
            outputs.append(OutputFile(ch.id, ch.parameters["fileName"], cols))
        elif ch.type == "EventOutputFile":
            sels = tuple(EventSelection(cc.id, cc.parameters["select"], cc.parameters.get("eventPort", "spike"))
                         for cc in ch.children if cc.type == "EventSelection")
            events.append(EventOutputFile(ch.id, ch.parameters["fileName"],
                                          ch.parameters.get("format", "TIME_ID"), sels))
        elif ch.type == "Display":
            ts = _scale(rd, ch.parameters.get("timeScale", "1ms"), ch.id)
            lines = []
            for ln in ch.children:
                if ln.type != "Line":
                    continue
                sc_text = ln.parameters.get("scale", "1")
                lines.append(Line(ln.id, ln.parameters["quantity"], _scale(rd, sc_text, ln.id), sc_text,
                                  ln.parameters.get("color"), _scale(rd, ln.parameters.get("timeScale", "1ms"), ln.id)))
            displays.append(Display(ch.id, ch.parameters.get("title", ch.id), tuple(lines),
                                    _f(ch.parameters.get("xmin")), _f(ch.parameters.get("xmax")),
                                    _f(ch.parameters.get("ymin")), _f(ch.parameters.get("ymax")), ts))
    seed = P.get("seed")
    return SimulationSpec(sim_id, length, step, tuple(outputs), tuple(events), tuple(displays),
                          int(seed) if seed is not None else None)


def _f(x):
    try:
        return float(x) if x is not None else None
    except ValueError:
        return None


def _scale(rd, text, cid):
    """SI value of a LEMS scale like '1mV' or '0.1V' or '1'."""
    m = re.match(r"^\s*([-+0-9.eE]+)\s*([A-Za-z_]\w*)?\s*$", str(text))
    if not m:
        raise rd.err(f"bad scale '{text}'", cid)
    num = float(m.group(1))
    unit = m.group(2)
    if not unit:
        return num
    try:
        u = rd.model.units[unit]
    except Exception:
        raise rd.err(f"unknown unit '{unit}' in '{text}'", cid, exc=UnitError) from None
    return num * (u.scale if u.scale else 1.0) * 10.0 ** (u.power or 0)


def _network(rd, model, net_id):
    if net_id:
        if net_id not in model.components:
            raise rd.err(f"the Simulation's target '{net_id}' names no component", element="Simulation")
        c = model.components[net_id]
        if not extends(model, c.type, "network") and c.type not in ("network", "networkWithTemperature"):
            from ..errors import UnsupportedError

            f, line = rd.index.locate(net_id)
            raise UnsupportedError([f"the Simulation's target '{net_id}' is a {c.type}, not a <network> "
                                    f"({f}:{line}); only networks can be simulated yet"], file=str(rd.path))
        return c
    nets = [c for c in model.components if c.type in ("network", "networkWithTemperature")]
    # prefer a network defined in the file itself over one from an included file
    own = [c for c in nets if rd.index.where.get(c.id, ("",))[0] == str(rd.path.resolve())]
    if own:
        return own[0]
    if nets:
        return nets[0]
    return None


def _cell_types(model):
    out = []
    for c in model.components:
        if extends(model, c.type, "baseCell"):
            out.append(c)
    return out


def _build_network(rd, model, flat, net):
    groups, links, event_links, unsupported = [], [], [], []
    temperature = 279.45
    mech_cache = {}

    def mech(cid, kind):
        if cid not in mech_cache:
            if cid not in model.components:
                raise rd.err(f"component '{cid}' is not defined")
            fc = model.fatten_component(model.components[cid])
            rd.checker.check_component(fc)  # the ComponentTypes it uses, before flattening
            nseg = _count_segments(fc)
            if nseg > 1:
                f, line = rd.index.locate(cid)
                unsupported.append(f"multi-compartment cell '{cid}' with {nseg} segments ({f}:{line}); "
                                   f"cables come with the morphology issue")
            # jLEMS evaluates in SI: a value whose dimension is not the declared one
            # (NeuroML's channelDensityGHK2 pOpen) is read as SI of the declared one
            mech_cache[cid], _notes = apply_si_semantics(flat.flatten(fc, name=cid, kind=kind))
            rd.origins[cid] = equation_origins(mech_cache[cid], fc, rd.checker.types)
            unsupported.extend(mech_cache[cid].unsupported)
        return mech_cache[cid]

    if net is None:
        cells = _cell_types(model)
        if len(cells) != 1:
            raise ModelImportError(f"no <network> and {len(cells)} cells in this file: nmlcell needs "
                                   f"a network or exactly one cell", file=str(rd.path))
        c = cells[0]
        m = mech(c.id, "cell")
        groups.append(Group(c.id, m, 1, c.id, emits_spikes=_emits(m)))
        return Network(c.id, tuple(groups), (), temperature), unsupported

    if "temperature" in net.parameters:
        temperature = rd.quantity(net.parameters["temperature"], "temperature", net.id, "temperature")
    from .nml_cell import is_multicompartment
    from .nml_cell_network import build_network as build_multicompartment

    if any(ch.type in ("population", "populationList") and is_multicompartment(model, ch.parameters.get("component"))
           for ch in net.children):
        # a NeuroML <cell> of several segments: a NEURON-style cable, as jNeuroML's NEURON export builds it
        network, unsupported, rd.multicompartment = build_multicompartment(rd, model, flat, net, temperature)
        return network or Network(net.id, ()), unsupported
    pops = {}
    projections = []
    inputs: dict[str, list[tuple[int, str, int]]] = {}  # input comp -> [(k, pop, idx)]
    for ch in net.children:
        t = ch.type
        if t in ("population", "populationList"):
            comp = ch.parameters.get("component")
            if comp not in model.components:
                raise rd.err(f"population '{ch.id}' uses component '{comp}', which is not defined", ch.id,
                             element="population")
            if t == "populationList" or "size" not in ch.parameters:
                size = sum(1 for cc in ch.children if cc.type == "instance")
            else:
                size = int(float(ch.parameters["size"]))
            check_spike_times(rd, model, comp)
            m = mech(comp, "cell")
            pops[ch.id] = (comp, size)
            groups.append(Group(ch.id, m, size, comp, emits_spikes=_emits(m)))
        elif t == "explicitInput":
            tgt = ch.parameters.get("target", "")
            mm = _POP_INDEX.match(tgt.strip())
            if not mm:
                mm2 = re.match(r"^(?P<pop>\w+)/(?P<i>\d+)(/\w+)?$", tgt.strip())
                mm = mm2
            if not mm:
                raise rd.err(f"explicitInput target '{tgt}' is not 'population[index]'", element="explicitInput")
            inputs.setdefault(ch.parameters["input"], []).append((mm.group("pop"), int(mm.group("i"))))
        elif t == "inputList":
            comp = ch.parameters.get("component")
            pop = ch.parameters.get("population")
            for inp in ch.children:
                if inp.type not in ("input", "inputW"):
                    continue
                tg = inp.parameters.get("target", "")
                mm = (_INPUT_TARGET.match(tg.strip()) or _POP_INDEX.match(tg.strip())
                      or _POP_INDEX.match(tg.strip().removeprefix("../")))
                if not mm:
                    raise rd.err(f"input target '{tg}' is not '../population/index/cell' or "
                                 f"'../population[index]'", ch.id, element="input")
                seg = inp.parameters.get("segmentId", "0")
                if str(seg) not in ("0",):
                    unsupported.append(f"input on segment {seg} of a multi-compartment cell "
                                       f"(inputList '{ch.id}')")
                w = float(inp.parameters.get("weight", 1.0)) if inp.type == "inputW" else 1.0
                inputs.setdefault(comp, []).append((mm.group("pop"), int(mm.group("i")), w))
        elif t in ("projection", "synapticConnection", "synapticConnectionWD"):
            projections.append(ch)
        elif t in ("electricalProjection", "continuousProjection"):
            projections.append(ch)
        elif "onnection" in t or "rojection" in t:
            unsupported.append(f"<{t}> '{ch.id}' in network '{net.id}'")
    taken = set(pops)
    for ch in projections:
        if ch.type == "projection":
            projection(rd, model, ch, pops, groups, links, event_links, mech)
        elif ch.type in ("electricalProjection", "continuousProjection"):
            tunnel_projection(rd, model, ch, pops, groups, links, mech)
        else:
            synaptic_connection(rd, model, ch, pops, groups, links, event_links, mech, taken)
    for comp, targets in inputs.items():
        if comp not in model.components:
            raise rd.err(f"input component '{comp}' is not defined", element="explicitInput")
        check_spike_times(rd, model, comp)
        m = mech(comp, "input")
        over = {}
        if any(len(x) > 2 and x[2] != 1.0 for x in targets):
            wname = next((p.name for p in m.parameters if p.name == "weight"), None)
            if wname:
                over[wname] = tuple(x[2] if len(x) > 2 else 1.0 for x in targets)
        gid = f"{comp}"
        groups.append(Group(gid, m, len(targets), comp, overrides=over))
        by_pop: dict[str, list] = {}
        for k, x in enumerate(targets):
            pop, idx = x[0], x[1]
            if pop not in pops:
                raise rd.err(f"input '{comp}' targets population '{pop}', which does not exist", comp)
            if idx >= pops[pop][1]:
                raise rd.err(f"input '{comp}' targets {pop}[{idx}] but '{pop}' has {pops[pop][1]} cells", comp)
            by_pop.setdefault(pop, []).append((k, idx))
        for pop, pairs in by_pop.items():
            cell_m = next(g.mechanism for g in groups if g.id == pop)
            att = [i for i in cell_m.inputs if i.kind == "attachment"]
            if not att:
                raise rd.err(f"cell '{pops[pop][0]}' of population '{pop}' accepts no inputs", comp)
            a = att[0]
            links.append(Link("sum", gid, a.exposure, pop, a.name, tuple(pairs)))
            for inp in m.inputs:
                if inp.kind == "requirement":
                    if inp.name not in cell_m.exposures and inp.name not in {s.name for s in cell_m.states}:
                        raise rd.err(f"input '{comp}' needs '{inp.name}', which cell '{pops[pop][0]}' "
                                     f"does not expose", comp)
                    links.append(Link("gather", pop, cell_m.exposures[inp.name][0], gid, inp.name,
                                      tuple((idx, k) for k, idx in pairs)))
            if any(h.port == "in" for h in m.on_events) and next(g for g in groups if g.id == pop).emits_spikes:
                # jLEMS attaches an input through an EventConnection from the cell to the input:
                # the cell's spikes reach the input's `in` (a timedSynapticInput relays them to its synapse)
                event_links.append(EventLink(pop, "spike", gid, "in", tuple((idx, k) for k, idx in pairs),
                                             (0.0,) * len(pairs)))
    return Network(net.id, tuple(groups), tuple(links), temperature,
                   event_links=tuple(event_links)), unsupported


def _count_segments(fc) -> int:
    n = 1 if fc.type == "segment" else 0
    for ch in fc.child_components:
        n += _count_segments(ch)
    return n


def _emits(m) -> bool:
    return any("spike" in c.events for c in m.conditions)


def _includes_next_to_files(m) -> None:
    """Make pylems resolve a relative ``<Include file=...>`` in the model's
    folders (the including files' and the core types') before the current
    directory: pylems tries the bare path first, so a file of the same name
    where Python runs was read instead of the model's own (as xmlcheck,
    jNeuroML and libNeuroML resolve it, next to the including file)."""
    import os

    orig = m.include_file

    def include_file(path, include_dirs=()):
        if not os.path.isabs(path):
            for d in (include_dirs or m.include_dirs):
                cand = os.path.normpath(os.path.join(d, path))
                if os.access(cand, os.F_OK):
                    return orig(cand, include_dirs)
        return orig(path, include_dirs)

    m.include_file = include_file
