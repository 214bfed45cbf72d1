"""The compatibility pass: every construct nmlcell cannot lower, at once.

Importers record what they could not translate in
``Mechanism.unsupported`` (one "what (file:line)" item each) instead of
stopping at the first; :func:`check` raises one
:class:`~nmlcell.errors.UnsupportedError` listing them all, and lets a
mechanism with none through unchanged.
"""
from __future__ import annotations

from ..errors import UnsupportedError
from ..ir.mechanism import Mechanism


def problems(mech: Mechanism) -> list[str]:
    """The unsupported constructs of ``mech``, each with file:line (a
    model's own VecStim first points to the built-in one)."""
    items = list(mech.unsupported)
    if items and mech.name == "VecStim" and mech.kind == "artificial_cell":
        items.insert(0, "ARTIFICIAL_CELL VecStim: use nmlcell's built-in nmlcell.VecStim(times) instead "
                        "(net.add(nmlcell.VecStim([...])); docs/user-guide.md)")
    return items


def check(mech: Mechanism) -> Mechanism:
    """Return ``mech`` if it can be lowered; otherwise raise
    UnsupportedError naming the mechanism and listing every construct."""
    items = problems(mech)
    if items:
        raise UnsupportedError(items, file=mech.source.file)
    return mech
