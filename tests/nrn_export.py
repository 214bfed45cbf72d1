"""jNeuroML's NEURON export of a LEMS file, run, as a test reference
(:func:`export_reference`): its output files as
:func:`jnml_ref.jnml_reference` returns them, cached the same way (key: the
folder's files, pyNeuroML's version and a tag naming the variant); skips
without Java, pynml or NEURON. Variants edit the generated files before
they are compiled and run:

- :func:`patched_neuron_reference`: mod files that use NEURON's old random
  API (the Poisson sources: ``spikeGeneratorPoisson``,
  ``poissonFiringSynapse``...), which NEURON 9 does not compile
  ("ambiguating new declaration of 'void* nrn_random_arg(int)'"): those
  declarations are dropped (NEURON 9's headers declare them) and the
  ``void*`` handed to ``nrn_random_pick`` cast to ``Rand*``. The export
  seeds each source's Random123 stream with its own ids and seed 123456789
  (``NeuronSimulation(seed=...)``): spike for spike it is not nmlcell's.
- ``test_cable_solvers.neuron_reference_so2``: ``h.secondorder = 2``.
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


def export_reference(lems_path, *, tag: str = "neuron", edit=None, timeout: float = 600.0) -> dict:
    """The export of ``lems_path`` run by NEURON. ``edit(lems)`` (the
    generated copy's LEMS file path), when given, changes the generated
    files before ``nrnivmodl`` and the run; without it pynml generates,
    compiles and runs in one call (``-neuron -run``). ``tag`` keys the cache
    (one per variant)."""
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
    key = tree_hash(root, extra=f"{tag}|{version}|{lems_path.relative_to(root).as_posix()}")
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

        export = [pynml, "-java_max_memory", "2G", lems.name, "-neuron", "-nogui"]
        if edit is None:
            step(export + ["-run"], "jNeuroML's NEURON export")
        else:
            step(export, "jNeuroML's NEURON export")
            edit(lems)
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


def _patch_mods(lems: Path) -> None:
    for f in lems.parent.glob("*.mod"):
        f.write_text(patch_random_api(f.read_text()))


def patched_neuron_reference(lems_path, timeout: float = 900.0) -> dict:
    """The export with its mod files made compilable by NEURON 9
    (:func:`patch_random_api`)."""
    return export_reference(lems_path, tag="neuron-patched", edit=_patch_mods, timeout=timeout)
