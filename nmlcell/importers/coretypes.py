"""Locate the NeuroML2 core ComponentType definitions (the LEMS files that
jNeuroML uses), without importing pyNeuroML (0.8 s). They ship inside
pyNeuroML's jNeuroML jar; they are extracted once into nmlcell's cache."""
from __future__ import annotations

import importlib.util
import os
import tempfile
import zipfile
from pathlib import Path

from .._config import cache_dir
from ..errors import ModelImportError

_FOLDER = "NeuroML2CoreTypes"


def _jar() -> Path:
    spec = importlib.util.find_spec("pyneuroml")
    if spec is None or not spec.submodule_search_locations:
        raise ModelImportError("the NeuroML2 core types need pyNeuroML (pip install pyNeuroML)")
    lib = Path(list(spec.submodule_search_locations)[0]) / "lib"
    jars = sorted(lib.glob("jNeuroML-*-jar-with-dependencies.jar"))
    if not jars:
        raise ModelImportError(f"no jNeuroML jar in {lib}; reinstall pyNeuroML")
    return jars[-1]


def core_types_dir() -> Path:
    """Folder holding Cells.xml, Channels.xml, ... (NeuroML2CoreTypes)."""
    env = os.environ.get("NMLCELL_CORE_TYPES")
    if env:
        return Path(env)
    jar = _jar()
    st = jar.stat()
    base = cache_dir() or Path(tempfile.gettempdir()) / "nmlcell-cache"
    dest = base / f"coretypes-{jar.stem}-{st.st_size}"
    marker = dest / _FOLDER / "NeuroML2CoreTypes.xml"
    if marker.exists():
        return dest / _FOLDER
    tmp = Path(tempfile.mkdtemp(dir=base if base.exists() else None))
    with zipfile.ZipFile(jar) as z:
        for n in z.namelist():
            if n.startswith(_FOLDER + "/") and n.endswith(".xml"):
                z.extract(n, tmp)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp / _FOLDER, dest / _FOLDER)
    except OSError:
        pass  # another process won the race
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return dest / _FOLDER
