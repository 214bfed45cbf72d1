#!/usr/bin/env python
"""Regenerate the jNeuroML reference data in ``tests/data/``.

Run by hand only (pytest does not collect this file):

    python tests/refgen.py              # from the repo root
    python tests/refgen.py --no-copy    # keep tests/data/nml2 as it is
    python tests/refgen.py ex5_detcell  # only some references

Needs ``java`` and pyNeuroML's ``pynml`` (both in the dev venv).

What it does
------------
1. Unless ``--no-copy``: copies the model files from the corpus
   (``../shared/corpus/nml2-core-examples``, NeuroML/NeuroML2 @ed6b8b7994,
   LGPL-3.0) into ``tests/data/nml2/``, keeping their relative paths so the
   ``<Include>``s resolve, with the license file beside them. Skipped with a
   note when the corpus is absent.
2. For each example in ``EXAMPLES``: copies the model's folder into a temporary
   directory, adds to the LEMS ``<Simulation>`` an ``<OutputFile>`` (v and the
   HH gates) and an ``<EventOutputFile>`` (the cell's ``spike`` port) -- outputs
   only, the dynamics are untouched -- creates ``results/`` and runs
   ``pynml LEMS.xml -nogui`` (jNeuroML's LEMS interpreter).
3. Writes ``tests/data/jnml_<name>.npz`` and a summary ``tests/data/README.md``.

Contents of each ``jnml_<name>.npz`` (NEURON's units: ms, mV)
-------------------------------------------------------------
``source``        LEMS file, relative to the repo root
``dt``            time step (ms); ``duration`` simulated time (ms)
``decimate``      10: the traces hold every 10th sample of jNeuroML's output
``t``             float64, sample times (ms): ``t[j] = j * decimate * dt``
``v``             float32, membrane potential of hhpop[0] (mV) at ``t``
``m``, ``h``, ``n``  float32, HH gate fractions at ``t``
``threshold``     the cell's spike threshold (mV): ``spikeThresh`` of a
                  ``<cell>``, ``thresh`` of a ``pointCellCondBased``
``spikes``        spike times (ms) from the *full-resolution* voltage trace:
                  for each upward crossing (``v[k-1] <= threshold < v[k]``),
                  the time ``t_k = k * dt`` of the first sample above the
                  threshold. This is the definition the tests should use.
``spikes_interp`` the same crossings, linearly interpolated between
                  ``t_{k-1}`` and ``t_k`` (at most ``dt`` earlier)
``spikes_jnml``   jNeuroML's own ``spike`` events (EventOutputFile), ms
``jnml_version``, ``pynml_version``  the tools that produced it

How jNeuroML integrates (measured on these files, jNeuroML 0.14.0)
-----------------------------------------------------------------
jLEMS steps with forward Euler at the LEMS ``dt``, but the HH gate rates see
the membrane potential of *two steps earlier*: ``v`` is advanced with
``I(v_k, m_k, h_k, n_k)``, the gates with ``alpha(v_{k-2})``, ``beta(v_{k-2})``.
A hand-written forward Euler with that lag reproduces the Ex5/Ex10/LEMS_HH
traces to 0.08 mV (spike times exactly); Ex1 (``pointCellCondBased``) to
0.02 ms. The lag delays each spike a little: by the 7th spike of Ex5 the
jNeuroML time is ~0.9 ms later than the converged solution (198.20 ms, LSODA
rtol 1e-10) and ~1 ms later than plain forward Euler at the same dt. Tests
against these references therefore need a tolerance that grows with the
spike index (or compare the first spike and the interspike intervals loosely),
not "same dt, same scheme, same trace".

jNeuroML writes SI units (s, V) with about 7 significant digits, so the
voltages are good to ~1e-4 mV.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
NML2 = DATA / "nml2"
CORPUS_ITEM = REPO.parent / "shared" / "corpus" / "nml2-core-examples"

# Model files copied from the corpus item (paths relative to the item).
CORPUS_FILES = [
    "LICENSE.lesser",
    "LEMSexamples/LEMS_NML2_Ex1_HH.xml",
    "LEMSexamples/LEMS_NML2_Ex5_DetCell.xml",
    "LEMSexamples/LEMS_NML2_Ex10_Q10.xml",
    "examples/NML2_SingleCompHHCell.nml",
]

_CELL_GATES = (
    "hhpop[0]/bioPhys1/membraneProperties/naChans/naChan/m/q",
    "hhpop[0]/bioPhys1/membraneProperties/naChans/naChan/h/q",
    "hhpop[0]/bioPhys1/membraneProperties/kChans/kChan/n/q",
)

# name -> (folder copied to the temp dir, LEMS file inside it, threshold in mV,
#          the string that sets that threshold in the model, gate quantities m/h/n)
EXAMPLES = {
    "ex1_hh": dict(
        root=NML2, lems="LEMSexamples/LEMS_NML2_Ex1_HH.xml", threshold=20.0,
        thresh_src=("LEMSexamples/LEMS_NML2_Ex1_HH.xml", 'thresh="20mV"'),
        gates=("hhpop[0]/naChans/na/m/q", "hhpop[0]/naChans/na/h/q",
               "hhpop[0]/kChans/k/n/q"),
    ),
    "ex5_detcell": dict(
        root=NML2, lems="LEMSexamples/LEMS_NML2_Ex5_DetCell.xml", threshold=-20.0,
        thresh_src=("examples/NML2_SingleCompHHCell.nml", '<spikeThresh value="-20mV"/>'),
        gates=_CELL_GATES,
    ),
    "ex10_q10": dict(
        root=NML2, lems="LEMSexamples/LEMS_NML2_Ex10_Q10.xml", threshold=-20.0,
        thresh_src=("LEMSexamples/LEMS_NML2_Ex10_Q10.xml", '<spikeThresh value="-20mV"/>'),
        gates=_CELL_GATES,
    ),
    "hh": dict(
        root=REPO / "data" / "examples" / "hh", lems="LEMS_HH.xml", threshold=-20.0,
        thresh_src=("NML2_SingleCompHHCell.nml", '<spikeThresh value="-20mV"/>'),
        gates=_CELL_GATES,
    ),
}

DECIMATE = 10


def copy_from_corpus() -> None:
    if not CORPUS_ITEM.is_dir():
        print(f"corpus not found at {CORPUS_ITEM}: keeping tests/data/nml2 as it is")
        return
    for rel in CORPUS_FILES:
        dst = NML2 / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS_ITEM / rel, dst)  # copyfile: not the corpus's read-only mode
    print(f"copied {len(CORPUS_FILES)} files from {CORPUS_ITEM} to {NML2.relative_to(REPO)}")


def _pynml() -> str:
    exe = shutil.which("pynml") or str(Path(sys.executable).parent / "pynml")
    if not Path(exe).exists():
        sys.exit("pynml not found (install pyNeuroML)")
    if shutil.which("java") is None:
        sys.exit("java not found: jNeuroML needs a Java runtime")
    return exe


def _sim_params(lems_text: str) -> tuple[float, float]:
    m = re.search(r'<Simulation\b[^>]*\blength="([\d.]+)\s*ms"[^>]*\bstep="([\d.]+)\s*ms"', lems_text)
    if not m:
        raise ValueError("cannot find <Simulation length=... step=...> in ms")
    return float(m.group(1)), float(m.group(2))


def _inject_outputs(lems_text: str, gates) -> str:
    cols = "\n".join(
        f'      <OutputColumn id="{g}" quantity="{q}"/>' for g, q in zip("mhn", gates)
    )
    extra = f"""
    <OutputFile id="refgen_of_v" fileName="results/refgen_v.dat">
      <OutputColumn id="v" quantity="hhpop[0]/v"/>
    </OutputFile>
    <OutputFile id="refgen_of_gates" fileName="results/refgen_gates.dat">
{cols}
    </OutputFile>
    <EventOutputFile id="refgen_spikes" fileName="results/refgen.spikes" format="TIME_ID">
      <EventSelection id="0" select="hhpop[0]" eventPort="spike"/>
    </EventOutputFile>
"""
    head, sep, tail = lems_text.rpartition("</Simulation>")
    if not sep:
        raise ValueError("no </Simulation> in LEMS file")
    return head + extra + sep + tail


def crossings(v: np.ndarray, dt: float, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Upward crossings of ``threshold``: (time of the first sample above, interpolated)."""
    k = np.nonzero((v[:-1] <= threshold) & (v[1:] > threshold))[0] + 1
    t_first = k * dt
    frac = (threshold - v[k - 1]) / (v[k] - v[k - 1])
    t_interp = (k - 1 + frac) * dt
    return t_first, t_interp


def run_one(name: str, spec: dict, pynml: str) -> dict:
    root: Path = spec["root"]
    src_file, src_str = spec["thresh_src"]
    if src_str not in (root / src_file).read_text():
        raise ValueError(f"{name}: threshold string {src_str!r} not found in {src_file}")
    lems_src = root / spec["lems"]
    text = lems_src.read_text()
    duration, dt = _sim_params(text)

    with tempfile.TemporaryDirectory(prefix=f"refgen_{name}_") as tmp:
        work = Path(tmp) / "model"
        shutil.copytree(root, work, ignore=shutil.ignore_patterns("results"))
        for p in work.rglob("*"):
            if p.is_file():
                p.chmod(0o644)
        lems = work / spec["lems"]
        lems.write_text(_inject_outputs(text, spec["gates"]))
        (lems.parent / "results").mkdir(exist_ok=True)
        t0 = time.perf_counter()
        proc = subprocess.run([pynml, lems.name, "-nogui"], cwd=lems.parent,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        out = proc.stdout + proc.stderr
        if proc.returncode != 0:
            sys.exit(f"{name}: pynml failed ({proc.returncode}):\n{out[-4000:]}")
        jv = re.search(r"jNeuroML v([\d.]+)", out)
        res = lems.parent / "results"
        vdat = np.loadtxt(res / "refgen_v.dat")
        gdat = np.loadtxt(res / "refgen_gates.dat")
        ev = np.loadtxt(res / "refgen.spikes", ndmin=2)

    n = int(round(duration / dt)) + 1
    if vdat.shape[0] != n:
        print(f"  note: {vdat.shape[0]} rows, expected {n}")
    t_full = np.arange(vdat.shape[0]) * dt
    if np.max(np.abs(vdat[:, 0] * 1e3 - t_full)) > 1e-3:
        raise ValueError(f"{name}: time column does not match k*dt")
    v = vdat[:, 1] * 1e3  # V -> mV
    spikes, spikes_interp = crossings(v, dt, spec["threshold"])
    spikes_jnml = np.sort(ev[:, 0] * 1e3) if ev.size else np.zeros(0)

    data = dict(
        source=np.array(str(lems_src.relative_to(REPO))),
        dt=np.float64(dt), duration=np.float64(duration), decimate=np.int64(DECIMATE),
        t=t_full[::DECIMATE],
        v=v[::DECIMATE].astype(np.float32),
        m=gdat[::DECIMATE, 1].astype(np.float32),
        h=gdat[::DECIMATE, 2].astype(np.float32),
        n=gdat[::DECIMATE, 3].astype(np.float32),
        threshold=np.float64(spec["threshold"]),
        spikes=spikes, spikes_interp=spikes_interp, spikes_jnml=spikes_jnml,
        jnml_version=np.array(jv.group(1) if jv else "unknown"),
        pynml_version=np.array(_pynml_version()),
    )
    dst = DATA / f"jnml_{name}.npz"
    np.savez_compressed(dst, **data)
    print(f"{name}: {len(spikes)} spikes in {wall:.1f} s -> {dst.relative_to(REPO)} "
          f"({dst.stat().st_size // 1024} kB)")
    print("  spikes (first sample above):", np.round(spikes, 3).tolist())
    print("  jNeuroML spike events:      ", np.round(spikes_jnml, 3).tolist())
    return data


def _pynml_version() -> str:
    try:
        from importlib.metadata import version
        return version("pyNeuroML")
    except Exception:
        return "unknown"


def write_readme(results: dict) -> None:
    rows = []
    for name, d in sorted(results.items()):
        sp = ", ".join(f"{x:.2f}" for x in d["spikes"])
        rows.append(f"| `jnml_{name}.npz` | `{d['source']}` | {float(d['dt'])} | "
                    f"{float(d['duration']):g} | {float(d['threshold']):g} | {len(d['spikes'])} | {sp} |")
    jv = next(iter(results.values()))["jnml_version"] if results else "?"
    text = f"""# Reference data (generated; do not edit by hand)

Regenerate with `python tests/refgen.py` (see its docstring for the exact
contents of each `.npz`). References come from jNeuroML v{jv}'s LEMS
interpreter (`pynml FILE -nogui`) run on the files in `nml2/` (from
NeuroML/NeuroML2 @ed6b8b7994, LGPL-3.0, license beside them) and on the
bundled `data/examples/hh/LEMS_HH.xml`.

Units are ms and mV. `spikes`: time of the first sample above the cell's
threshold at each upward crossing, from the full-resolution trace; traces
(`t`, `v`, `m`, `h`, `n`) keep every 10th sample.

Caution: jNeuroML's LEMS interpreter is forward Euler in which the gate rates
lag the membrane potential by two steps (see `tests/refgen.py`); its spike
times drift later than the converged solution by up to ~1 ms after 7 spikes.
Converged spike times (LSODA, rtol 1e-10, same threshold definition at 0.1 µs
resolution) for comparison: Ex1 52.25, 68.47, 84.47, 100.47; Ex5 and LEMS_HH
102.10, 118.27, 134.27, 150.25, 166.24, 182.22, 198.20; Ex10 103.02, 146.58,
189.53.

| file | LEMS | dt (ms) | duration (ms) | threshold (mV) | spikes | spike times (ms) |
|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
    (DATA / "README.md").write_text(text)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help=f"subset of {sorted(EXAMPLES)}")
    ap.add_argument("--no-copy", action="store_true", help="do not refresh tests/data/nml2 from the corpus")
    args = ap.parse_args(argv)
    unknown = set(args.names) - set(EXAMPLES)
    if unknown:
        ap.error(f"unknown example(s) {sorted(unknown)}; choose from {sorted(EXAMPLES)}")
    if not args.no_copy:
        copy_from_corpus()
    pynml = _pynml()
    DATA.mkdir(parents=True, exist_ok=True)
    for name in args.names or EXAMPLES:
        run_one(name, EXAMPLES[name], pynml)
    # the summary always lists every stored reference
    results = {}
    for name in EXAMPLES:
        f = DATA / f"jnml_{name}.npz"
        if f.exists():
            with np.load(f) as z:
                results[name] = {k: z[k] for k in ("source", "dt", "duration", "threshold", "spikes", "jnml_version")}
    write_readme(results)


if __name__ == "__main__":
    os.environ.setdefault("JAVA_TOOL_OPTIONS", "-Djava.awt.headless=true")
    main()
