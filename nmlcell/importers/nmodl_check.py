"""Semantic checks of a ``.mod`` file: what NEURON itself would reject.

NEURON builds a mechanism in two stages: ``nocmodl`` translates the file into
C++, then a C++ compiler builds it (``nrnivmodl`` runs both, never
``modlunit``). Measured with NEURON 9.0.2:

- A variable used in a block but declared nowhere is only a warning for
  ``nocmodl`` ("Warning: erev undefined. (declared within VERBATIM?)"), but
  the C++ compilation then fails ("'erev' was not declared in this scope"),
  so the file cannot be used in NEURON. Exceptions, compiled without a
  declaration: ``v``, ``t``, ``dt``, ``celsius``, ``area``, ``diam``,
  ``secondorder``. Not exceptions: ``PI``, ``FARADAY``, ``R``, ``pi``,
  ``e`` (they need a UNITS or CONSTANT declaration), nor ion variables and
  currents named in USEION/NONSPECIFIC_CURRENT but not in ASSIGNED.
  :func:`undefined_variables` raises :class:`~nmlcell.errors.ModelImportError`
  for them. A file with VERBATIM (other than ``return 0;`` ending a
  PROCEDURE) is not checked: its C code may declare them (such files are
  rejected for the VERBATIM anyway).
- Units: ``nocmodl`` checks only the UNITS block: a unit there that is not in
  NEURON's unit database (``nrnunits.lib``) stops it ("Cannot recognize the
  units: foobar"); :func:`units_block` raises
  :class:`~nmlcell.errors.UnitError`. ``nocmodl`` accepts unknown units in
  PARAMETER/ASSIGNED/STATE declarations, assignments whose two sides have
  different dimensions, and a UNITS factor ``F = (u1) (u2)`` whose units are
  not conformable (it takes the ratio of their magnitudes); only
  ``modlunit`` rejects those. nmlcell accepts them too; the last one gives
  an :class:`NmodlUnitWarning` (its value is rarely what the author meant).
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from ..errors import ModelImportError, UnitError
from .nmodl_parse import nmodl, node_name
from .nmodl_units import parse_unit

__all__ = ["NEURON_PROVIDED", "NmodlUnitWarning", "undefined_variables", "units_block"]

# compiled by NEURON without a declaration in the file (measured, see above)
NEURON_PROVIDED = frozenset({"v", "t", "dt", "celsius", "area", "diam", "secondorder"})

_DECLARATION_BLOCKS = {"NeuronBlock", "ParamBlock", "StateBlock", "AssignedBlock", "UnitBlock", "ConstantBlock",
                       "Define", "Include", "LocalListStatement", "Verbatim", "LineComment", "BlockComment",
                       "Model", "IndependentBlock", "UnitState"}
_KEYWORD = {"BreakpointBlock": "BREAKPOINT", "InitialBlock": "INITIAL", "DerivativeBlock": "DERIVATIVE",
            "KineticBlock": "KINETIC", "FunctionBlock": "FUNCTION", "ProcedureBlock": "PROCEDURE",
            "NetReceiveBlock": "NET_RECEIVE", "LinearBlock": "LINEAR", "NonLinearBlock": "NONLINEAR",
            "DiscreteBlock": "DISCRETE", "FunctionTableBlock": "FUNCTION_TABLE", "BeforeBlock": "BEFORE",
            "AfterBlock": "AFTER", "ConstructorBlock": "CONSTRUCTOR", "DestructorBlock": "DESTRUCTOR",
            "ForNetcon": "FOR_NETCONS"}
_WITH_ARGUMENTS = {"FunctionBlock", "ProcedureBlock", "NetReceiveBlock", "FunctionTableBlock", "ForNetcon"}
_NAMED = {"DerivativeBlock", "KineticBlock", "FunctionBlock", "ProcedureBlock", "LinearBlock", "NonLinearBlock",
          "DiscreteBlock", "FunctionTableBlock"}


class NmodlUnitWarning(UserWarning):
    """A unit problem NEURON's ``modlunit`` reports but its ``nocmodl``
    (which builds the mechanism) accepts."""


def _block_label(b) -> tuple[str, str]:
    """(``"FUNCTION rates"``, a regex for its header line)."""
    t = b.get_node_type_name()
    kw = _KEYWORD.get(t, t)
    if t in _NAMED:
        n = node_name(b)
        return f"{kw} {n}", rf"(?i)^\s*{kw}\s+{re.escape(n)}\b"
    return kw, rf"(?i)^\s*{kw}\b"


def undefined_variables(imp) -> None:
    """Raise ModelImportError naming file:line of the first variable used
    (read or assigned) in a block but declared nowhere (and listing the
    others). ``imp`` is a :class:`~nmlcell.importers.nmodl_decl.Declarations`
    after :meth:`declarations`."""
    if any(v not in imp.noop_verbatims for v in imp.text.all(r"\bVERBATIM\b")):
        return
    ast, visitor = nmodl().ast, nmodl().visitor
    lv = visitor.AstLookupVisitor()
    known = (set(imp.params) | set(imp.state_decl) | set(imp.assigned_decl) | set(imp.units) | set(imp.defines)
             | set(imp.file_locals) | set(imp.functions) | set(imp.procedures) | set(imp.arrays) | NEURON_PROVIDED)
    # RANDOM variables are declared by the NEURON block alone; POINTER,
    # BBCOREPOINTER and EXTERNAL ones are left to the compatibility pass
    for b in imp.prog.blocks:
        if b.get_node_type_name() == "NeuronBlock":
            for st in b.statement_block.statements:
                if st.get_node_type_name() in ("RandomVarList", "Pointer", "BbcorePointer", "External"):
                    known |= {node_name(v) for v in st.variables}
    found: list[tuple[str, str, str]] = []     # (name, block, header regex)
    for b in imp.prog.blocks:
        t = b.get_node_type_name()
        if t in _DECLARATION_BLOCKS:
            continue
        local = {node_name(v) for ll in lv.lookup(b, ast.AstNodeType.LOCAL_LIST_STATEMENT) for v in ll.variables}
        local |= {node_name(f) for f in lv.lookup(b, ast.AstNodeType.FROM_STATEMENT)}
        for t_ in (ast.AstNodeType.COMPARTMENT, ast.AstNodeType.LON_DIFFUSE):   # COMPARTMENT i, vol[i] {...}
            local |= {c.index_name.get_node_name() for c in lv.lookup(b, t_) if c.index_name is not None}
        if t in _WITH_ARGUMENTS:
            local |= {node_name(p) for p in b.parameters}
        if t == "FunctionBlock":
            local.add(node_name(b))
        if t == "NetReceiveBlock":
            local.add("flag")
        for vn in lv.lookup(b, ast.AstNodeType.VAR_NAME):
            n = vn.name.get_node_name()
            if n not in known and n not in local and n not in {f[0] for f in found}:
                found.append((n, *_block_label(b)))
    if not found:
        return
    where = []
    for n, label, header in found:
        f, ln = imp.text.find(rf"\b{re.escape(n)}\b", within=header)
        where.append((n, label, f or imp.path, ln))
    n, label, f, ln = where[0]
    if n in imp.ion_reads or n in imp.ion_writes or n in imp.nonspecific or n in imp.electrode:
        why = "named in the NEURON block but not declared in ASSIGNED, which NEURON requires"
    else:
        why = "not declared in PARAMETER, ASSIGNED, STATE, CONSTANT, UNITS or LOCAL, nor an argument"
    msg = f"undefined variable '{n}' in {label}: {why} (NEURON cannot compile it)"
    if len(where) > 1:
        msg += "; also " + ", ".join(f"'{m}' ({os.path.basename(g)}:{k})" if k else f"'{m}'"
                                     for m, _lab, g, k in where[1:])
    raise ModelImportError(msg, file=f, line=ln)


# -- units ------------------------------------------------------------------------------------------

# prefixes NEURON's unit reader knows (units.c's table; more than needed is
# harmless: the check only rejects what is certainly unknown)
_PREFIXES = ("yotta", "zetta", "exa", "peta", "tera", "giga", "mega", "myria", "kilo", "hecto", "deka", "deci",
             "centi", "milli", "micro", "nano", "pico", "femto", "atto", "zepto", "zopto", "yocto", "semi", "demi",
             "Y", "Z", "E", "P", "T", "G", "M", "k", "h", "da", "d", "c", "m", "u", "µ", "n", "p", "f", "a", "z", "y")


def _nrnunits_path() -> Path | None:
    try:
        import neuron
    except ImportError:
        return None
    base = Path(neuron.__file__).parent / ".data" / "share"
    for p in (base / "nrn" / "lib" / "nrnunits.lib", base / "nmodl" / "nrnunits.lib"):
        if p.is_file():
            return p
    return None


@lru_cache(maxsize=1)
def _neuron_unit_names() -> frozenset[str] | None:
    """The unit names defined in NEURON's ``nrnunits.lib`` (None when it
    cannot be found: nothing is then rejected)."""
    p = _nrnunits_path()
    if p is None:
        return None
    names = set()
    for line in p.read_text(errors="replace").splitlines():
        if not line.strip() or line.lstrip().startswith("/"):
            continue
        names.add(line.split()[0].rstrip("-"))
    return frozenset(names)


def _word_known(word: str, names: frozenset[str], depth: int = 0) -> bool:
    if word in names or (word.endswith("s") and word[:-1] in names) or (depth == 0 and word in _PREFIXES):
        return True
    if depth > 2:
        return False
    return any(word.startswith(p) and len(word) > len(p) and _word_known(word[len(p):], names, depth + 1)
               for p in _PREFIXES)


_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[+-]\d+)?")


def unknown_unit_words(unit: str, extra: set[str]) -> list[str]:
    """The words of ``unit`` NEURON's unit database does not define
    (empty when the database cannot be found)."""
    names = _neuron_unit_names()
    if names is None:
        return []
    words = re.findall(r"[A-Za-z_µ]+", _NUMBER.sub(" ", unit))
    return [w for w in words if w not in extra and not _word_known(w, names | extra)]


def units_block(imp) -> None:
    """Check the UNITS block as nocmodl does (see the module docstring)."""
    defined: set[str] = set()
    for b in imp.prog.blocks:
        if b.get_node_type_name() != "UnitBlock":
            continue
        for d in b.definitions:
            t = d.get_node_type_name()
            if t == "UnitDef":
                units = [d.unit2.name.eval()]
            elif t == "FactorDef":
                units = [u.name.eval() for u in (d.unit1, d.unit2) if u is not None]
            else:
                continue
            for u in units:
                bad = unknown_unit_words(u, defined)
                if bad:
                    f, ln = imp.text.find(rf"\(\s*[^)]*\b{re.escape(bad[0])}\b", within=r"(?i)^\s*UNITS\b")
                    raise UnitError(f"unit '{bad[0]}' in the UNITS block is not in NEURON's unit database "
                                    f"(nrnunits.lib): NEURON's nocmodl rejects the file (\"Cannot recognize the "
                                    f"units: {bad[0]}\")", file=f or imp.path, line=ln)
            if t == "UnitDef":
                defined |= set(re.findall(r"[A-Za-z_µ]+", _NUMBER.sub(" ", d.unit1.name.eval())))
            elif t == "FactorDef" and d.unit1 is not None and d.unit2 is not None:
                a, c = parse_unit(d.unit1.name.eval()), parse_unit(d.unit2.name.eval())
                # in NEURON's database a mole is a number (6.02e23), not a dimension
                if a is not None and c is not None and replace(a[1], n=0) != replace(c[1], n=0):
                    n = node_name(d)
                    f, ln = imp.text.find(rf"\b{re.escape(n)}\s*=", within=r"(?i)^\s*UNITS\b")
                    warnings.warn_explicit(
                        f"UNITS factor {n} = ({d.unit1.name.eval()}) ({d.unit2.name.eval()}): the two units have "
                        f"different dimensions; NEURON's modlunit rejects it, nocmodl takes the ratio of their "
                        f"magnitudes, and so does nmlcell", NmodlUnitWarning, f or imp.path, ln or 0,
                        module=__name__)
