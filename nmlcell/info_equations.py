"""``nmlcell info``: a mechanism's equations, one a line, each with the
ComponentType and file:line that define it::

    d/dt v = -w/tau   [leakyCell cell.xml:15]
    w = v - v0   [leakyCell cell.xml:14]
    on start: v = v0   [leakyCell cell.xml:17]
    on v > 0: v = c; emit spike   [izhikevich2007Cell Cells.xml:1012]
"""
from __future__ import annotations

from pathlib import Path

MAX_EXPR = 90  # longer expressions are cut, with "..."


def _short(text, limit: int = MAX_EXPR) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _local(expr, name: str):
    """``expr`` with the names below ``name``'s component written relative
    to it (``a/b/inf`` as ``inf`` in the equation of ``a/b/q``)."""
    import sympy as sp

    prefix = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    if not prefix or not hasattr(expr, "free_symbols"):
        return expr
    sub = {s: sp.Symbol(s.name[len(prefix):]) for s in expr.free_symbols if s.name.startswith(prefix)}
    return expr.xreplace(sub) if sub else expr


def _where(src, base: Path | None) -> str:
    if src is None or not src.file:
        return ""
    f = Path(src.file)
    shown = f.name
    if base is not None:
        try:
            shown = str(f.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    s = f"{src.origin} {shown}" if src.origin else shown
    return f"   [{s}:{src.line}]" if src.line else f"   [{s}]"


def equation_lines(mech, origins: dict, base: Path | None = None, indent: str = "    ") -> list[str]:
    """One line per time derivative, derived variable, OnStart assignment
    and OnCondition of ``mech``; ``origins`` as in
    :func:`nmlcell.importers.lems_origins.equation_origins` (missing keys
    fall back to the equation's own Source); file names relative to
    ``base`` when inside it."""
    out = []
    for s in mech.states:
        if s.name in mech.derivatives:
            src = origins.get(("d/dt", s.name), s.source)
            rhs = _short(_local(mech.derivatives[s.name], s.name))
            out.append(f"{indent}d/dt {s.name} = {rhs}{_where(src, base)}")
    for d in mech.derived:
        src = origins.get(("derived", d.name), d.source)
        out.append(f"{indent}{d.name} = {_short(_local(d.expr, d.name))}{_where(src, base)}")
    for a in mech.on_start:
        src = origins.get(("on_start", a.variable))
        rhs = _short(_local(a.expr, a.variable))
        out.append(f"{indent}on start: {a.variable} = {rhs}{_where(src, base)}")
    for k, c in enumerate(mech.conditions):
        src = origins.get(("condition", k), c.source)
        acts = [f"{a.variable} = {a.expr}" for a in c.assignments] + [f"emit {e}" for e in c.events]
        rhs = _short("; ".join(acts) or "nothing")
        out.append(f"{indent}on {_short(c.test, 40)}: {rhs}{_where(src, base)}")
    return out
