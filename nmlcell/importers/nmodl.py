"""Import an NMODL ``.mod`` file, unchanged, into an IR :class:`Mechanism`.

The file is parsed by the NMODL framework that ships with NEURON
(``neuron.nmodl``: ``NmodlDriver``, ``SymtabVisitor``,
``KineticBlockVisitor`` turns KINETIC schemes into ODEs); its statements are
then executed symbolically into sympy: LOCALs, FUNCTION and PROCEDURE calls
(inlined with their arguments), IF/ELSE (as ``Piecewise``), TABLEs (ignored:
the function itself is evaluated, exactly). What results is the same IR the
LEMS importer produces:

- parameters (PARAMETER, CONSTANT, and ASSIGNED variables never assigned in
  the file) with their values converted to NEURON's customary units,
- states (STATE, plus ASSIGNED variables set only in INITIAL, held constant
  during the run with derivative 0),
- ``derived``: the assignments of the SOLVEd blocks then of BREAKPOINT, in
  evaluation order (a variable assigned twice keeps its name on the last
  value; earlier values are ``name__k``),
- ``derivatives`` of the DERIVATIVE (and converted KINETIC) blocks,
- ``on_start``: the INITIAL block's assignments to states,
- inputs (``v``, ``t``, ``dt``, ``celsius``, ``area``, ``diam``, the ion
  variables read) and the NMODL extras (``ions``, ``currents``, ``solves``,
  ``steady_state``, ``conserve``).

SOLVEd PROCEDUREs, LINEAR blocks (solved in closed form) and NONLINEAR
blocks (Newton steps) become ``updates`` of NEURON's state phase.
Everything the IR cannot express yet (VERBATIM, POINTER, NET_RECEIVE,
DISCRETE, random numbers...) is listed in ``Mechanism.unsupported``
with file:line; :func:`nmlcell.passes.compat.check` turns the list into one
error, which :func:`load_mod_file` does unless ``check=False``.
Imported mechanisms are cached on disk (:mod:`.mod_cache`).
Values and expressions stay in NEURON's units (``Mechanism.units ==
"neuron"``).

Modules: ``nmodl_parse`` (parsing, INCLUDE, syntax errors), ``nmodl_decl``
(declarations, what each variable is), ``nmodl_expr`` (sympy helpers),
``nmodl_exec`` (symbolic execution of statements), ``nmodl_build``
(assembling the Mechanism), ``nmodl_units`` (unit strings).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from ..errors import ModelImportError
from ..ir.mechanism import Mechanism
from .mod_cache import cached_import
from .nmodl_parse import parse_mod_file

__all__ = ["check_name_clashes", "load_mod_file", "load_mod_folder", "parse_mod_file"]


def load_mod_file(path, *, check: bool = True, reserved: Mapping[str, str | os.PathLike] | None = None
                  ) -> Mechanism:
    """Import one ``.mod`` file. With ``check`` (the default) a file using
    constructs nmlcell cannot lower raises :class:`~nmlcell.errors.UnsupportedError`
    listing all of them; ``check=False`` returns the Mechanism with the list
    in ``Mechanism.unsupported``. ``reserved`` (name -> file, e.g. the
    built-in library): a mechanism taking one of these names from another
    file is an error (:func:`check_name_clashes`)."""
    mech = cached_import(path, lambda: _build(path))
    if reserved:
        check_name_clashes({mech.name: mech}, reserved)
    if check:
        from ..passes.compat import check as compat_check

        compat_check(mech)
    return mech


def _build(path) -> tuple[Mechanism, list[str]]:
    from .nmodl_build import MechanismBuilder  # imported on a cache miss only

    builder = MechanismBuilder(str(path))
    mech = builder.build()
    return mech, [f for f, _ in builder.text.files]


def load_mod_folder(folder, *, check: bool = True, reserved: Mapping[str, str | os.PathLike] | None = None
                    ) -> dict[str, Mechanism]:
    """Import every ``.mod`` file in ``folder`` (not recursive): mechanism
    name (SUFFIX or POINT_PROCESS name) -> Mechanism. With ``check``, every
    file's unsupported constructs are listed in one error; ``reserved`` as
    in :func:`load_mod_file`."""
    from ..errors import UnsupportedError
    from ..passes.compat import problems as compat_problems

    out: dict[str, Mechanism] = {}
    problems: list[str] = []
    for p in sorted(Path(folder).glob("*.mod")):
        m = load_mod_file(p, check=False, reserved=reserved)
        if m.name in out:
            raise ModelImportError(f"mechanism '{m.name}' defined twice (also in {out[m.name].source.file})",
                                   file=str(p))
        out[m.name] = m
        problems += compat_problems(m)
    if check and problems:
        raise UnsupportedError(problems, file=str(folder))
    return out


def check_name_clashes(mechs: Mapping[str, Mechanism], reserved: Mapping[str, str | os.PathLike]) -> None:
    """Raise ModelImportError (naming the file, the line of its SUFFIX or
    POINT_PROCESS and the other file) when a mechanism of ``mechs`` takes a
    name of ``reserved`` (name -> file, e.g. nmlcell's built-in library)
    from a different file. NEURON refuses such a file too when it loads it:
    "The user defined name, pas, already exists." """
    for name, m in mechs.items():
        other = reserved.get(name)
        if other is None or _same_file(m.source.file, other):
            continue
        kw = {"point_process": "POINT_PROCESS", "artificial_cell": "ARTIFICIAL_CELL"}.get(m.kind, "SUFFIX")
        line = None
        try:
            text = Path(m.source.file).read_text(errors="replace")
            mt = re.search(rf"(?m)^[^:\n]*\b{kw}\s+{re.escape(name)}\b", text)
            line = text.count("\n", 0, mt.start()) + 1 if mt else None
        except OSError:
            pass
        raise ModelImportError(f"{kw} {name} clashes with nmlcell's built-in mechanism {name} ({other}); "
                               f"NEURON refuses it too (\"The user defined name, {name}, already exists.\"): "
                               f"rename the {kw}", file=m.source.file, line=line)


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
