"""The built-in mechanism library: NEURON's own ``.mod`` files (hh, pas,
IClamp, SEClamp, ExpSyn, Exp2Syn, NetStim; BSD licence in
``Copyright.NEURON``; IntFire1 written here from its documented rules), imported by the same NMODL importer as a user's."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).parent
FILES = {"hh": "hh.mod", "pas": "passive.mod", "IClamp": "stim.mod", "SEClamp": "svclmp.mod",
         "ExpSyn": "expsyn.mod", "Exp2Syn": "exp2syn.mod", "NetStim": "netstim.mod",
         "IntFire1": "intfire1.mod"}   # intfire1.mod: written for nmlcell from NEURON's documented rules


def names() -> list[str]:
    return sorted(FILES)


@lru_cache(maxsize=None)
def builtin(name: str):
    """The built-in mechanism ``name`` as an IR Mechanism (unsupported
    constructs listed in it, reported when it is used). Imported once per
    process, and from the on-disk cache of imported .mod files
    (:mod:`nmlcell.importers.mod_cache`) once imported by any process."""
    from ..errors import ModelImportError
    from ..importers.nmodl import load_mod_file

    if name not in FILES:
        raise ModelImportError(f"no built-in mechanism '{name}' (built-in: {', '.join(names())}); "
                               f"load your own with nmlcell.load_mod(path)", element=name)
    return load_mod_file(HERE / FILES[name], check=False)
