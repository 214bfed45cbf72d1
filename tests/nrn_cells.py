"""NEURON references for one-compartment cells built from .mod files.

``compile_mods(folder)`` compiles a folder's ``.mod`` files with NEURON's
``nrnivmodl`` (cached under ``~/.cache/nmlcell/nrnmech/<hash>``);
``neuron_run(cfg)`` runs NEURON in a subprocess (each with its own mechanism
library, so two folders defining the same names never meet) and returns the
recorded traces; ``nmlcell_run(cfg, mechs)`` runs the same configuration
with ``nmlcell.Cell``. A configuration::

    {"lib": path or None, "L": 20, "diam": 20, "cm": 1, "Ra": 100,
     "insert": [["hh", {}], ["Ca_HVA", {"gCa_HVAbar": 1e-4}]],
     "iclamp": [delay, dur, amp], "T": 150, "dt": 0.025, "celsius": 34,
     "v_init": -65, "record": ["v", "m_hh", "cai"],
     "tables": {"kir": {"taumkir": {"x": [...], "y": [...]}}},   # optional: FUNCTION_TABLE data
     "neuron_names": {"ca_3_cadifpmp": "ca_cadifpmp[3]"}}         # optional: NEURON's name of a column

NEURON runs with ``secondorder = 0`` and ``usetable_<suffix> = 0`` for every
mechanism (its tables are an approximation; nmlcell evaluates the functions).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

_RUNNER = r'''
import json, sys
import numpy as np
from neuron import h
cfg = json.loads(sys.argv[1])
if cfg.get("lib"):
    h.nrn_load_dll(cfg["lib"])
s = h.Section(name="soma")
s.L, s.diam, s.cm, s.Ra, s.nseg = cfg["L"], cfg["diam"], cfg["cm"], cfg["Ra"], 1
for name, params in cfg["insert"]:
    s.insert(name)
    for k, v in params.items():
        setattr(s(0.5), f"{k}_{name}", v)
    if hasattr(h, f"usetable_{name}"):
        setattr(h, f"usetable_{name}", 0)
if cfg.get("iclamp"):
    st = h.IClamp(s(0.5))
    st.delay, st.dur, st.amp = cfg["iclamp"]
for name, tables in cfg.get("tables", {}).items():   # FUNCTION_TABLE data: hoc's table_<f>_<suffix>
    for f, data in tables.items():
        fn = getattr(h, f"table_{f}_{name}")
        fn(h.Vector(data["y"]), h.Vector(data["x"])) if isinstance(data, dict) else fn(float(data))
vecs = []
for r in cfg["record"]:
    base, _, k = cfg.get("neuron_names", {}).get(r, r).partition("[")   # ca_cadifpmp[3]: an array element
    ref = getattr(s(0.5), "_ref_" + base)
    vec = h.Vector()
    vec.record(ref[int(k[:-1])] if k else ref)
    vecs.append(vec)
h.dt = cfg["dt"]

h.celsius = cfg["celsius"]
h.secondorder = 0
h.finitialize(cfg.get("v_init", -65.0))
while h.t < cfg["T"] - 0.5 * h.dt:
    h.fadvance()
np.save(sys.argv[2], np.array([np.array(v) for v in vecs]))
'''


# The start of a NEURON script: cfg (JSON, sys.argv[1]) and the cell of
# cfg["morph"] (SWC, else Neurolucida) read by Import3d into ``secs``
IMPORT3D_HEAD = r'''import sys, json, numpy as np
from neuron import h
h.load_file("stdlib.hoc"); h.load_file("import3d.hoc")
cfg = json.loads(sys.argv[1])
path = cfg["morph"]
r = h.Import3d_SWC_read() if path.endswith(".swc") else h.Import3d_Neurolucida3()
r.input(path)
h.Import3d_GUI(r, 0).instantiate(None)
secs = list(h.allsec())
'''

# The cell of test_cable_cell/_solvers and test_nmodl_carried on ``secs``:
# cm 1, Ra 100, nseg cfg["nseg"] (3 where cfg has none) on every section,
# hh in the soma and axon, pas (1e-4 S/cm2, -65 mV) elsewhere
HH_SOMA_AXON_PAS = r'''
for s in secs:
    s.nseg = cfg.get("nseg", 3); s.cm = 1.0; s.Ra = 100.0
    if s.name().split("[")[0] in ("soma", "axon"):
        s.insert("hh")
    else:
        s.insert("pas")
        for seg in s:
            seg.pas.g, seg.pas.e = 1e-4, -65.0
'''

# The end of a NEURON script on ``secs`` (the cell's sections, the soma first)
# and ``cfg`` (amp, rec: [(section name, x)], T): NEURON's tables off, an
# IClamp at the soma's middle (2 ms for 20 ms), v recorded at cfg["rec"],
# dt 0.025 ms, 6.3 degC, first order, saved to sys.argv[2]
ICLAMP_RECORD_RUN = r'''h.usetable_hh = 0
st = h.IClamp(secs[0](0.5)); st.delay, st.dur, st.amp = 2.0, 20.0, cfg["amp"]
recs = []
for name, x in cfg["rec"]:
    sec = [s for s in secs if s.name() == name][0]
    v = h.Vector(); v.record(sec(x)._ref_v); recs.append(v)
h.dt = 0.025; h.celsius = 6.3; h.secondorder = 0
h.finitialize(-65.0)
while h.t < cfg["T"] - 0.0125:
    h.fadvance()
np.save(sys.argv[2], np.array([np.array(v) for v in recs]))
'''


def cache_root() -> Path:
    """nmlcell's cache folder; with ``NMLCELL_CACHE=off`` (nmlcell caches
    nothing) NEURON's compiled libraries go to the temporary folder, never
    to a folder named ``off`` in the working directory."""
    env = os.environ.get("NMLCELL_CACHE")
    if env and env.lower() in ("off", "0", "none", "false"):
        return Path(tempfile.gettempdir()) / "nmlcell-test-cache"
    base = env or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nmlcell")
    return Path(base)


def compile_mods(folder: Path, files=None) -> str:
    """nrnivmodl on the folder's .mod files (or ``files``); the library path."""
    pytest.importorskip("neuron")
    nrnivmodl = shutil.which("nrnivmodl") or str(Path(sys.executable).parent / "nrnivmodl")
    if not os.path.exists(nrnivmodl):
        pytest.skip("nrnivmodl not found")
    mods = sorted(Path(folder) / f for f in files) if files else sorted(Path(folder).glob("*.mod"))
    key = hashlib.sha256()
    for m in mods:
        key.update(m.name.encode())
        key.update(m.read_bytes())
    dest = cache_root() / "nrnmech" / key.hexdigest()[:16]
    lib = next(dest.rglob("libnrnmech.so"), None) if dest.exists() else None
    if lib is not None:
        return str(lib)
    tmp = Path(tempfile.mkdtemp(prefix="nrnmech-"))
    for m in mods:
        shutil.copy(m, tmp)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    r = subprocess.run([nrnivmodl, "."], cwd=tmp, capture_output=True, text=True, env=env, timeout=900)
    lib = next(tmp.rglob("libnrnmech.so"), None)
    if r.returncode != 0 or lib is None:
        pytest.fail(f"nrnivmodl failed in {folder}: {r.stdout[-1500:]} {r.stderr[-1500:]}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.move(str(tmp), str(dest))
    return str(next(dest.rglob("libnrnmech.so")))


def run_script(runner: str, cfg: dict, out_name: str, read):
    """Run the NEURON script ``runner`` in a subprocess with ``cfg`` (JSON)
    and the path of its output file ``out_name``; ``read(path)`` of that file."""
    pytest.importorskip("neuron")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / out_name
        r = subprocess.run([sys.executable, "-c", runner, json.dumps(cfg), str(out)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            pytest.fail(f"NEURON run failed: {r.stderr[-2000:]}")
        return read(out)


def neuron_run(cfg: dict) -> dict[str, np.ndarray]:
    return dict(zip(cfg["record"], run_script(_RUNNER, cfg, "rec.npy", np.load)))


def nmlcell_run(cfg: dict, mechs: dict | None = None, solver: str = "staggered"):
    import nmlcell

    cell = nmlcell.Cell.soma(L=cfg["L"], diam=cfg["diam"], cm=cfg["cm"], Ra=cfg["Ra"],
                             v_init=cfg.get("v_init", -65.0))
    for name, params in cfg["insert"]:
        tables = cfg.get("tables", {}).get(name)
        cell.insert(mechs[name] if mechs and name in mechs else name, **params,
                    **({"tables": tables} if tables else {}))
    if cfg.get("iclamp"):
        d, dur, amp = cfg["iclamp"]
        cell.add(nmlcell.IClamp(delay=d, dur=dur, amp=amp))
    cell.solver = solver
    res = cell.run(duration=cfg["T"], dt=cfg["dt"], celsius=cfg["celsius"], record=cfg["record"])
    return {q: res[q] for q in cfg["record"]}, res


def spike_times(t, v, thr=0.0):
    i = np.nonzero((v[1:] >= thr) & (v[:-1] < thr))[0] + 1
    return t[i]
