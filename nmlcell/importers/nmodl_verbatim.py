"""VERBATIM blocks whose C code nmlcell can account for without running it.

Decided narrowly, from the block's text (comments removed, statements split
at ``;``); anything else in a VERBATIM stays refused ("VERBATIM (C code)"):

- **output only**: ``printf``/``fprintf``/``fopen``/``fclose``/``fflush``/
  ``strcpy``/``sprintf`` calls (an assignment of their result, too), C
  declarations (``FILE *f;``, ``char filename[1000];``) and ``#include``:
  skipped with an :class:`NmodlVerbatimIgnored` warning (file:line, "output
  only, not reproduced"). netpyne's izhi2007a writes a log this way.
- **reading hoc arguments** (``x = (float) *getarg(1)``, ``strcpy(buf,
  gargstr(2))``; no pointers or Vectors), with
  output statements: allowed only where it is the whole body of a PROCEDURE
  or FUNCTION (made of such VERBATIMs alone) that nothing in the file calls;
  the block is dropped with the same warning. Called from the file, refused.
- **an error**: a VERBATIM whose only statement is ``hoc_execerror(...)``
  (an error branch: NEURON stops there). The executor records the
  conditions of the branches it stands in (:meth:`VerbatimRules._verbatim_stmt`);
  the builder makes them a state ``execerror`` (:func:`error_parts`): set
  by INITIAL where the condition depends only on parameters, by a condition
  checked after each step where it depends on run-time values;
  ``Model.run`` raises :class:`~nmlcell.errors.SimulationError` naming the
  instance, file:line and the message when it is nonzero
  (:func:`check_final`).
"""
from __future__ import annotations

import os
import re
import warnings
import zlib

import sympy as sp

from .nmodl_parse import nmodl, node_name

__all__ = ["NmodlVerbatimIgnored", "verbatim_noops", "VerbatimRules", "error_parts", "check_final", "STATE"]

STATE = "execerror"
OUTPUT_CALLS = ("printf", "fprintf", "fopen", "fclose", "fflush", "strcpy", "sprintf")
CODES: dict[int, str] = {}   # execerror code -> "file:line: message" (filled at import)


class NmodlVerbatimIgnored(UserWarning):
    """A VERBATIM block that only writes output (or a PROCEDURE made of such
    blocks and hoc argument reads that nothing calls): skipped, its output
    is not reproduced."""


def _statements(body: str) -> list[str]:
    text = re.sub(r"(?s)/\*.*?\*/", " ", body)
    text = re.sub(r"//[^\n]*", " ", text)
    out = []
    for row in text.split("\n"):
        row = row.strip()
        if row.startswith("#"):
            out.append(row)
            continue
        out += [s.strip() for s in row.split(";") if s.strip()]
    return out


_INCLUDE = re.compile(r'#\s*include\s*[<"][^>"]+[>"]')
_DECL = re.compile(r"(static\s+)?(FILE|char|int|double|float)\s*\*?\s*[A-Za-z_]\w*\s*(\[\s*\d+\s*\])?")
_OUTPUT = re.compile(r"([A-Za-z_]\w*\s*=\s*)?(" + "|".join(OUTPUT_CALLS) + r")\s*\(.*\)")
# a hoc argument read into a variable or a string buffer, nothing else (no pointers, Vectors)
_HOCARG = re.compile(r"[A-Za-z_]\w*\s*=\s*(\(\s*(float|double|int)\s*\)\s*)?\*\s*getarg\s*\(\s*\d+\s*\)"
                     r"|strcpy\s*\(\s*[A-Za-z_]\w*\s*,\s*gargstr\s*\(\s*\d+\s*\)\s*\)")
_ERROR = re.compile(r'hoc_execerror\s*\((.*)\)', re.S)


def kind(body: str) -> tuple[str, str] | None:
    """("error", message), ("include", ""), ("hocargs", ""), ("output", "")
    or None (C code that does something else)."""
    st = _statements(body)
    if len(st) == 1:
        m = _ERROR.fullmatch(st[0])
        if m:
            msgs = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
            return "error", " ".join(msgs) or m.group(1).strip()
    if not st:
        return None
    if all(_INCLUDE.fullmatch(s) for s in st):
        return "include", ""   # headers only: nothing runs (a habit of many ModelDB files), no warning
    hoc = False
    for s in st:
        if _INCLUDE.fullmatch(s) or _DECL.fullmatch(s):
            continue
        if _HOCARG.fullmatch(s):
            hoc = True
            continue
        if _OUTPUT.fullmatch(s):
            continue
        return None
    return ("hocargs", "") if hoc else ("output", "")


def norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def verbatim_noops(imp) -> set:
    """(file, line) of the VERBATIM blocks of ``imp`` (a Declarations after
    its block scan) that need no C: output-only ones (warned), those of an
    uncalled PROCEDURE/FUNCTION that only reads hoc arguments and writes
    output (the block is dropped, warned), and error branches (recorded in
    ``imp.error_sites``: normalized body -> (file, line, message)). A
    VERBATIM reading hoc arguments elsewhere is recorded as unsupported."""
    ast, visitor = nmodl().ast, nmodl().visitor
    imp.error_sites = {}
    lv = visitor.AstLookupVisitor()
    # the file's text loses what follows ':' (an NMODL comment); the AST keeps the C text
    nodes = [v.statement.eval() for v in lv.lookup(imp.prog, ast.AstNodeType.VERBATIM)]
    bodies = list(imp._verbatim_bodies())
    if len(nodes) != len(bodies):
        return set()
    bodies = [(f, ln, body) for (f, ln, _b), body in zip(bodies, nodes)]
    kinds = {(f, ln): kind(body) for f, ln, body in bodies}
    if not any(kinds.values()):
        return set()
    # PROCEDUREs/FUNCTIONs made only of VERBATIMs: (name, block, their normalized bodies)
    only_verbatim = {}
    for name, blk in list(imp.procedures.items()) + list(imp.functions.items()):
        stmts = [s for s in blk.statement_block.statements
                 if s.get_node_type_name() not in ("LineComment", "BlockComment")]
        if stmts and all(s.get_node_type_name() == "Verbatim" for s in stmts):
            only_verbatim[name] = {norm(s.statement.eval()) for s in stmts}
    called = {node_name(c) for c in lv.lookup(imp.prog, ast.AstNodeType.FUNCTION_CALL)}
    out = set()
    for f, ln, body in bodies:
        k = kinds[(f, ln)]
        if k is None:
            continue
        where = f"{os.path.basename(f)}:{ln}"
        owner = next((n for n, bs in only_verbatim.items() if norm(body) in bs), None)
        if k[0] == "include":
            out.add((f, ln))
            continue
        if k[0] == "error":
            imp.error_sites[norm(body)] = (f, ln, k[1])
            out.add((f, ln))
            continue
        if owner is not None:
            kw = "PROCEDURE" if owner in imp.procedures else "FUNCTION"
            if owner in called:
                imp.unsupported.append(f"VERBATIM (C code) of {kw} {owner}, which the file calls: it "
                                       f"{'reads hoc arguments' if k[0] == 'hocargs' else 'writes output'}; "
                                       f"not lowered ({where})")
                out.add((f, ln))
                continue
            warnings.warn_explicit(f"{kw} {owner}: VERBATIM {'reading hoc arguments and ' if k[0] == 'hocargs' else ''}"
                                   f"writing output, never called in a simulation: output only, not reproduced "
                                   f"(the {kw} is dropped)", NmodlVerbatimIgnored, f, ln, module=__name__)
            out.add((f, ln))
            continue
        if k[0] == "hocargs":
            continue   # reads hoc arguments outside a PROCEDURE of its own: refused (VERBATIM (C code))
        warnings.warn_explicit("VERBATIM: output only, not reproduced", NmodlVerbatimIgnored, f, ln,
                               module=__name__)
        out.add((f, ln))
    for name in only_verbatim:
        if name not in called and all(kinds.get(x) and kinds[x][0] != "error" for x in
                                      [(f, ln) for f, ln, body in bodies if norm(body) in only_verbatim[name]]):
            imp.procedures.pop(name, None)
            imp.functions.pop(name, None)
    return out


class VerbatimRules:
    """The executor's part: a VERBATIM statement met while executing a
    block. Only error branches (``hoc_execerror``) matter: the conditions
    of the IF branches it stands in are recorded in ``self.errors_taken``
    [(condition, (file, line, message), phase)]."""

    def _verbatim_stmt(self, s) -> None:
        site = getattr(self, "error_sites", {}).get(norm(s.statement.eval()))
        if site is None:
            return
        path = sp.And(*self.nr_path) if self.nr_path else sp.true
        if path is sp.false:
            return
        if not hasattr(self, "errors_taken"):
            self.errors_taken = []
        item = (path, site, self.phase)
        if item not in self.errors_taken:
            self.errors_taken.append(item)

    def constant_names(self) -> set:
        """PARAMETERs no block assigns (constant during a run) and the
        file's constants: a condition on them alone is decided per instance
        before the run."""
        return set(self.param_names) | set(self.units) | set(self.defines)


def code_of(site) -> int:
    f, ln, msg = site
    code = zlib.crc32(f"{os.path.basename(f)}:{ln}:{msg}".encode()) % (1 << 20) + 1
    CODES[code] = f"{os.path.basename(f)}:{ln}: hoc_execerror(\"{msg}\")"
    return code


def error_parts(b):
    """(on_start assignments, conditions, state) for the error branches
    ``b`` (the builder) recorded, or None when there are none. A branch
    under a condition on parameters alone sets ``execerror`` at the start;
    one under run-time values (a POINT_PROCESS's or density mechanism's
    step, INITIAL excluded) by a condition checked after each step."""
    from ..ir.expr import sym
    from ..ir.mechanism import Assignment, Condition, Source, State
    from ..ir.units import NONE

    taken = getattr(b, "errors_taken", [])
    if not taken:
        return None
    const = {str(x) for x in b.constant_names()}
    err = sym(STATE)
    start, conds = [], []
    src = None
    for path, site, phase in taken:
        path = path.xreplace({s: sym(s.name) for s in path.free_symbols})
        code = sp.Float(float(code_of(site)))
        src = Source(site[0], site[1], "VERBATIM hoc_execerror")
        if {x.name for x in path.free_symbols} <= const:
            start.append((code, path))
        elif phase == "step" and b.kind == "point_process":
            conds.append(Condition(sp.And(path, err < sp.Float(0.5)), (Assignment(STATE, code),), (), src))
        else:
            b.unsupported.append(f"hoc_execerror under a condition on run-time values in {phase} of a "
                                 f"{b.kind.replace('_', ' ')}: not lowered ({os.path.basename(site[0])}:{site[1]})")
    first = sp.Piecewise(*start, (sp.Float(0.0), True)) if start else sp.Float(0.0)
    table = " | ".join(f"{code_of(site)}={CODES[code_of(site)]}" for _p, site, _ph in taken)
    st = State(STATE, NONE, f"nonzero when a hoc_execerror branch was taken, its code: {table}", src)
    return (Assignment(STATE, first),), tuple(conds), st


def check_final(lowered, final) -> None:
    """Raise SimulationError when an instance's ``execerror`` is nonzero at
    the end of a run: NEURON stops with hoc_execerror's message there."""
    import numpy as np

    from ..errors import SimulationError

    for gid, g in lowered.groups.items():
        for col, n in enumerate(g.kernel.state_names):
            if n.split(".")[-1] != STATE:
                continue
            a = np.asarray(final[gid][col]).reshape(-1)
            bad = np.nonzero(np.abs(a) > 0.5)[0]
            if bad.size:
                code = int(round(float(a[bad[0]])))
                raise SimulationError(f"{gid}[{int(bad[0])}]: {n}: {CODES.get(code, 'hoc_execerror')}: NEURON "
                                      f"stops the run there (an error branch of the mechanism was taken)")


def check_parameters(mech, instance: str, values: dict) -> None:
    """Refuse (ModelImportError, file:line of the VERBATIM, the message)
    an instance whose parameter values take a hoc_execerror branch whose
    condition depends on parameters alone (``execerror``'s INITIAL value)."""
    from ..errors import ModelImportError
    from ..ir.expr import sym

    st = next((s for s in mech.states if s.name == STATE), None)
    if st is None:
        return
    for item in st.description.split(": ", 1)[-1].split(" | "):   # the codes (a cached mechanism too)
        code, _, where = item.partition("=")
        if code.isdigit():
            CODES[int(code)] = where
    for a in mech.on_start:
        if a.variable != STATE or a.expr.is_Number:
            continue
        got = a.expr.xreplace({sym(k): sp.Float(float(v)) for k, v in values.items()})
        if got.is_Number and float(got) != 0:
            where = CODES.get(int(round(float(got))), "hoc_execerror")
            f, ln = _site_of(mech, where)
            raise ModelImportError(f"{instance} ({mech.name}): its parameters take an error branch: {where.split(': ', 1)[-1]} "
                                   f"(NEURON stops there)", file=f, line=ln)


def _site_of(mech, where: str):
    name, _, rest = where.partition(":")
    ln = rest.split(":", 1)[0]
    f = mech.source.file if mech.source is not None else name
    return f, int(ln) if ln.isdigit() else None

