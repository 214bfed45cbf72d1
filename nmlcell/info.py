"""``nmlcell info``: what was imported, in words."""
from __future__ import annotations

from pathlib import Path

from .info_equations import equation_lines
from .ir.units import display_unit


def describe(model) -> str:
    ir = model.ir
    out = [f"model {ir.name} ({ir.file})"]
    sim = ir.simulation
    if sim is not None:
        out.append(f"simulation {sim.id}: {sim.duration:g} ms at dt {sim.dt:g} ms; "
                   f"{len(sim.outputs)} output file(s), {len(sim.event_outputs)} event file(s), "
                   f"{len(sim.displays)} display(s)")
    out.append(f"temperature {ir.network.temperature - 273.15:g} degC")
    seen = set()
    for gid, g in model.lowered.groups.items():
        m = g.mech
        out.append("")
        out.append(f"{'population' if m.kind == 'cell' else 'inputs'} {gid}: {g.size} x {m.component_type} "
                   f"'{m.name}' ({m.source})")
        if m.name in seen:
            out.append("  (same mechanism as above)")
            continue
        seen.add(m.name)
        out.append(f"  states ({len(m.states)}):")
        for s in m.states:
            out.append(f"    {s.name} [{display_unit(s.dim)[0]}]")
        out.append(f"  parameters ({len(m.parameters)}):")
        for p in m.parameters:
            unit, fac = display_unit(p.dim)
            kind = " (constant)" if p.constant else ""
            out.append(f"    {p.name} = {p.value * fac:g} {unit}{kind}   [{p.source.origin}]")
        eqs = equation_lines(m, ir.origins.get(m.name, {}), Path(ir.file).parent)
        if eqs:
            out.append(f"  equations ({len(eqs)}), each with the ComponentType and file:line defining it:")
            out += eqs
        ions = sorted({p.name.rsplit('/', 1)[0] for p in m.parameters if p.name.endswith("/erev")})
        if ions:
            out.append(f"  channels with a reversal potential: {', '.join(ions)}")
        if m.inputs:
            out.append("  inputs: " + ", ".join(f"{i.name} ({i.kind})" for i in m.inputs))
    if ir.network.links:
        out.append("")
        out.append("links:")
        for l in ir.network.links:
            out.append(f"  {l.src}/{l.src_var} -> {l.dst}/{l.dst_input} ({l.kind}, {len(l.pairs)} pair(s))")
    out.append("")
    out += _unsupported(ir.unsupported, "model", "")
    return "\n".join(out)


def _unsupported(items, what: str, indent: str) -> list[str]:
    """The "not supported yet" lines of a description."""
    if not items:
        return [f"{indent}not supported yet: nothing (every construct of this {what} is lowered)"]
    return [f"{indent}not supported yet ({len(items)}):"] + [f"{indent}  {u}" for u in items]


def describe_mod(path) -> str:
    """``nmlcell info file.mod``: the mechanism as nmlcell imported it."""
    from .importers.nmodl import load_mod_file

    m = load_mod_file(path, check=False)
    kind = m.kind.replace("_", " ")
    out = [f"{kind} {m.name} ({path}); values in NEURON's units"]
    glob = set(m.globals)
    out.append(f"  parameters ({len(m.parameters)}):")
    for p in m.parameters:
        tags = [t for t, on in (("GLOBAL", p.name in glob), ("constant", p.constant)) if on]
        extra = f" ({', '.join(tags)})" if tags else ""
        out.append(f"    {p.name} = {p.value:g} {p.unit}{extra}".rstrip())
    out.append(f"  states ({len(m.states)}): " + (", ".join(m.state_names) or "none"))
    for use in m.ions:
        z = f", valence {use.valence:g}" if use.valence is not None else ""
        out.append(f"  ion {use.ion}: reads {', '.join(use.read) or '-'}; writes {', '.join(use.write) or '-'}{z}")
    for c in m.currents:
        out.append(f"  current {c.variable} ({c.kind}{', ' + c.ion if c.ion else ''}, {c.unit})")
    if m.solves:
        out.append("  SOLVE: " + ", ".join(f"{b} METHOD {meth}" for b, meth in m.solves))
    else:
        out.append("  SOLVE: none (no states integrated)")
    used = [i.name for i in m.inputs if i.name in ("v", "t", "dt", "celsius", "area", "diam")]
    if used:
        out.append("  reads: " + ", ".join(used))
    from .importers.nmodl_table import function_tables

    for name, (nargs, file, line) in sorted(function_tables(m).items()):
        where = f"{Path(file).name}:{line}" if line else Path(file).name
        out.append(f"  FUNCTION_TABLE {name} ({nargs} argument{'s' if nargs != 1 else ''}, {where}): "
                   f"needs data at run time, cell.insert(..., tables={{'{name}': {{'x': [...], 'y': [...]}}}})")
    out += _unsupported(m.unsupported, "file", "  ")
    return "\n".join(out)


def describe_morphology(path) -> str:
    """``nmlcell info cell.swc``: the morphology as NEURON would build it."""
    from collections import Counter

    from .importers.morphology import load_morphology
    from .lower.discretize import discretize

    m = load_morphology(path)
    d = discretize(m, nseg="d_lambda", Ra=35.4, cm=1.0)
    regions = Counter(s.region for s in m.sections)
    out = [f"morphology {path} ({m.format}): {len(m.sections)} sections "
           f"({', '.join(f'{n} {r}' for r, n in regions.items())})",
           f"  total length {sum(d.L):.1f} um, membrane area {d.total_area:.1f} um2",
           f"  d_lambda rule (0.1 at 100 Hz, Ra 35.4, cm 1): {sum(d.nseg)} segments, "
           f"{len(d) - sum(d.nseg)} zero-area nodes where sections meet"]
    if m.groups:
        out.append("  groups: " + ", ".join(g.name for g in m.groups[:20]) + (" ..." if len(m.groups) > 20 else ""))
    for note in m.notes:
        out.append(f"  note: {note}")
    return "\n".join(out)
