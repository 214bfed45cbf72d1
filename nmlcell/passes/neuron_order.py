"""NEURON's order of the mechanisms within each phase of a step (the sort
key :func:`neuron_order` of :mod:`nmlcell.passes.compartment` and
:mod:`nmlcell.passes.share_groups`)."""
from __future__ import annotations

from pathlib import Path

from ..ir.mechanism import Mechanism

# NEURON registers its own mechanisms first, in this order (nrn's mechanism
# table), then those of nrnivmodl's library in the order of their file
# names. Each phase runs the mechanisms in NEURON's ``memb_order_``: the
# types up to extracellular (of these, pas), then every mechanism that
# WRITEs an ion concentration (nocmodl's ``nrn_writes_conc``) in the REVERSE
# order of registration, then the others in the order of registration.
# Measured with NEURON 9.0 (a counter each mechanism's state phase reads
# and increments): zz_pool, yy_capool2 (WRITE cao), cc_kpool (WRITE ki),
# bb_pool (WRITE nai), then aa_probe, kk_cach, mm_probe, pp_probe, whatever
# the order of insertion; the readers of cai see the step's new cai.
_NEURON_BUILTINS = ("pas", "IClamp", "ExpSyn", "Exp2Syn", "SEClamp", "hh", "NetStim")
_BEFORE_WRITERS = ("pas",)   # NEURON's types below EXTRACELL + 1


def writes_concentration(m: Mechanism) -> bool:
    """Whether ``m`` WRITEs an ion's inside or outside concentration (nocmodl
    then registers it with ``nrn_writes_conc``)."""
    return any(w == use.ion + "i" or w == use.ion + "o" for use in m.ions for w in use.write)


def neuron_order(it):
    """The sort key of NEURON's order of the mechanisms within each phase of
    a step (see the comment above); ``it``: an Inserted."""
    from ..mechanisms import HERE

    m = it.mech
    f = Path(m.source.file) if m.source.file else None
    name = f.name if f is not None else m.name
    builtin = f is not None and f.parent == HERE and m.name in _NEURON_BUILTINS
    if builtin and m.name in _BEFORE_WRITERS:
        return (0, _NEURON_BUILTINS.index(m.name), ())
    if writes_concentration(m):
        # descending by name: a later registration runs earlier (the terminator
        # puts a longer name before its prefix, as descending order does)
        return (1, 0, tuple(-ord(c) for c in name) + (0,))
    if builtin:
        return (2, _NEURON_BUILTINS.index(m.name), ())
    return (3, 0, tuple(ord(c) for c in name))
