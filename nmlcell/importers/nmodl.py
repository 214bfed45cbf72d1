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

Everything the IR cannot express yet (VERBATIM, POINTER, NET_RECEIVE,
LINEAR/NONLINEAR, random numbers...) is listed in ``Mechanism.unsupported``
with file:line; :func:`nmlcell.passes.compat.check` turns the list into one
error, which :func:`load_mod_file` does unless ``check=False``.
Values and expressions stay in NEURON's units (``Mechanism.units ==
"neuron"``).

Modules: ``nmodl_parse`` (parsing, INCLUDE, syntax errors), ``nmodl_decl``
(declarations, what each variable is), ``nmodl_expr`` (sympy helpers),
``nmodl_exec`` (symbolic execution of statements), ``nmodl_build``
(assembling the Mechanism), ``nmodl_units`` (unit strings).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelImportError
from ..ir.mechanism import Mechanism
from .nmodl_build import MechanismBuilder
from .nmodl_parse import parse_mod_file

__all__ = ["load_mod_file", "load_mod_folder", "parse_mod_file"]


def load_mod_file(path, *, check: bool = True) -> Mechanism:
    """Import one ``.mod`` file. With ``check`` (the default) a file using
    constructs nmlcell cannot lower raises :class:`~nmlcell.errors.UnsupportedError`
    listing all of them; ``check=False`` returns the Mechanism with the list
    in ``Mechanism.unsupported``."""
    mech = MechanismBuilder(str(path)).build()
    if check:
        from ..passes.compat import check as compat_check

        compat_check(mech)
    return mech


def load_mod_folder(folder, *, check: bool = True) -> dict[str, Mechanism]:
    """Import every ``.mod`` file in ``folder`` (not recursive): mechanism
    name (SUFFIX or POINT_PROCESS name) -> Mechanism. With ``check``, every
    file's unsupported constructs are listed in one error."""
    from ..errors import UnsupportedError

    out: dict[str, Mechanism] = {}
    problems: list[str] = []
    for p in sorted(Path(folder).glob("*.mod")):
        m = load_mod_file(p, check=False)
        if m.name in out:
            raise ModelImportError(f"mechanism '{m.name}' defined twice (also in {out[m.name].source.file})",
                                   file=str(p))
        out[m.name] = m
        problems += list(m.unsupported)
    if check and problems:
        raise UnsupportedError(problems, file=str(folder))
    return out
