"""jNeuroML's NEURON export of a LEMS file whose generated mod files use
NEURON's old random API (the Poisson sources: ``spikeGeneratorPoisson``,
``poissonFiringSynapse``...), which NEURON 9 does not compile
("ambiguating new declaration of 'void* nrn_random_arg(int)'"): the export
is generated (``pynml LEMS.xml -neuron -nogui``, no ``-run``), those
declarations are dropped from the mod files (NEURON 9's headers declare
them) and the ``void*`` handed to ``nrn_random_pick`` cast to ``Rand*``;
then ``nrnivmodl`` and ``python LEMS_<x>_nrn.py -nogui``. The export seeds
each source's Random123 stream with its own ids and seed 123456789
(``NeuronSimulation(seed=...)``): spike for spike it is not nmlcell's.

Cached like :func:`test_nml_multicomp.neuron_reference` (key: the
folder's files, pyNeuroML's version, "neuron-patched"); skips without
Java, pynml or NEURON.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from jnml_ref import (_collect, _load, _save, cache_root, find_java, find_pynml, include_root,
                      lems_outputs, pynml_version, tree_hash)

_DECL = re.compile(r"^(double nrn_random_pick\(void\* r\);|void\* nrn_random_arg\(int argpos\);)$", re.M)


def patch_random_api(text: str) -> str:
    """The export's netstim-derived VERBATIM blocks, compilable by NEURON 9."""
    text = _DECL.sub("", text)
    text = text.replace("nrn_random_pick(_p_donotuse)", "nrn_random_pick((Rand*)_p_donotuse)")
    return text.replace("*pv = nrn_random_arg(1);", "*pv = (void*)nrn_random_arg(1);")


def patched_neuron_reference(lems_path, timeout: float = 900.0) -> dict:
    lems_path = Path(lems_path).resolve()
    if not lems_path.is_file():
        pytest.skip(f"{lems_path} not found")
    java, pynml = find_java(), find_pynml()
    if java is None or pynml is None:
        pytest.skip("jNeuroML (java and pynml) not found")
    venv = Path(sys.executable).parent.parent
    if shutil.which("nrnivmodl", path=str(venv / "bin")) is None:
        pytest.skip("NEURON's nrnivmodl is not in this venv")
    root = include_root(lems_path)
    version = pynml_version(pynml)
    key = tree_hash(root, extra=f"neuron-patched|{version}|{lems_path.relative_to(root).as_posix()}")
    dest = cache_root() / key
    if (dest / "meta.json").is_file():
        try:
            return _load(dest)
        except Exception:  # noqa: BLE001 - a damaged entry is recomputed
            shutil.rmtree(dest, ignore_errors=True)
    spec = lems_outputs(lems_path)
    with tempfile.TemporaryDirectory(prefix="nmlcell-nrn-") as tmp:
        copy = Path(tmp) / root.name
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("x86_64", "*.mod", "*_nrn.py"))
        lems = copy / lems_path.relative_to(root)
        for o in spec["outputs"]:
            (lems.parent / o["file"]).parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, NEURON_HOME=str(venv), PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '')}")
        env.setdefault("JAVA_TOOL_OPTIONS", "-Djava.awt.headless=true")

        def step(cmd, what):
            p = subprocess.run(cmd, cwd=lems.parent, capture_output=True, text=True, timeout=timeout, env=env)
            if p.returncode != 0:
                tail = "\n".join((p.stdout + p.stderr).splitlines()[-25:])
                raise RuntimeError(f"{what} failed on {lems.name}:\n{tail}")

        step([pynml, "-java_max_memory", "2G", lems.name, "-neuron", "-nogui"], "jNeuroML's NEURON export")
        for f in lems.parent.glob("*.mod"):
            f.write_text(patch_random_api(f.read_text()))
        step([str(venv / "bin" / "nrnivmodl")], "nrnivmodl")
        step([sys.executable, f"{lems.stem}_nrn.py", "-nogui"], "the exported simulation")
        missing = [o["file"] for o in spec["outputs"] if not (lems.parent / o["file"]).is_file()]
        if missing:
            raise RuntimeError(f"the export of {lems.name} wrote no {', '.join(missing)}")
        outputs, events, notes = _collect(lems, spec, False)
    ref = {"outputs": outputs, "events": events, "dt": spec["dt"], "duration": spec["duration"],
           "lems": str(lems_path), "jnml_wall_s": 0.0, "pynml_version": version, "notes": notes,
           "cached": False}
    try:
        _save(dest, ref)
    except OSError:
        pass
    return ref
