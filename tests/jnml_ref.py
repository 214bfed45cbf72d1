"""jNeuroML references produced at test time, and a generic comparison.

``jnml_reference(lems_path)`` runs jNeuroML's LEMS interpreter
(``pynml LEMS.xml -nogui``) on a copy of the model and returns what it wrote;
``compare(ref, res)`` checks an nmlcell run against it and returns a list of
human-readable differences (empty when they match).

What ``jnml_reference`` does
----------------------------
1. Finds the smallest folder holding the LEMS file and every file it
   includes, recursively (``<Include file=...>`` of LEMS, ``<include
   href=...>`` of NeuroML; the NeuroML2 core types, which jNeuroML reads from
   its jar, are not local files and are ignored), and copies that folder
   into a temporary directory, so relative includes resolve.
2. When the ``<Simulation>`` has no ``<OutputFile>`` and no
   ``<EventOutputFile>`` (files such as Ex2/Ex4 only draw ``<Display>``s,
   which ``-nogui`` never writes), adds to the *copy* one ``<OutputFile>``
   whose columns are the ``<Line>``s of the displays (outputs only, the
   dynamics are untouched). Such a file is marked ``"injected": True``: the
   nmlcell side of the comparison then reads ``res.si(quantity)``, since
   nmlcell, run on the original file, writes no file for it.
3. Creates the folder of every output file, runs ``pynml <file> -nogui``
   (cwd: the LEMS file's folder) and reads every output file back.

Result (a dict)::

    {"outputs": {file_id: {"file": fileName, "injected": bool,
                           "t": seconds (array),
                           "columns": {col_id: (quantity, SI array)}}},
     "events":  {file_id: {"file": fileName, "format": "ID_TIME"|"TIME_ID",
                           "selections": {sel_id: select},
                           "times": {sel_id: seconds (array)}}},
     "dt": ms, "duration": ms, "lems": str, "jnml_wall_s": float,
     "pynml_version": str, "cached": bool, "notes": [str]}

``columns`` keeps the ``<OutputColumn>`` order. When two ``<OutputFile>``s
name the same file, only the one whose columns the file holds is kept (the
other is overwritten) and a note says so.

Cache
-----
References are stored under ``~/.cache/nmlcell/jnml_refs/<key>/``
(``$XDG_CACHE_HOME/nmlcell/...`` when set, or ``$NMLCELL_JNML_REF_CACHE``),
``<key>`` = sha256 of every file of the copied folder (relative path and
content), the pyNeuroML version and this module's format version, so a
second run does not start Java. The cache is on whatever ``NMLCELL_CACHE``
says (that variable is for nmlcell's own caches); delete the folder to
recompute.

Skips (``pytest.skip``) when the LEMS file, ``java`` or ``pynml`` is missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr
from pathlib import Path

import numpy as np
import pytest

FORMAT_VERSION = "1"
INJECTED_ID = "nmlcell_test_displays"
INJECTED_FILE = "nmlcell_test_displays.dat"

# --------------------------------------------------------------------------------------
# tools


def find_pynml() -> str | None:
    """``pynml`` next to the running interpreter, else on PATH."""
    here = Path(sys.executable).parent / "pynml"
    if here.exists():
        return str(here)
    return shutil.which("pynml")


def find_java() -> str | None:
    return shutil.which("java")


def pynml_version(pynml: str) -> str:
    """pyNeuroML's version string (it pins the jNeuroML jar)."""
    if Path(pynml).parent == Path(sys.executable).parent:
        try:
            from importlib.metadata import version
            return "pyNeuroML " + version("pyNeuroML")
        except Exception:  # noqa: BLE001 - fall back to asking the command
            pass
    proc = subprocess.run([pynml, "-version"], capture_output=True, text=True, timeout=120)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "pyNeuroML" in ln]
    return lines[-1].strip() if lines else "unknown"


def cache_root() -> Path:
    env = os.environ.get("NMLCELL_JNML_REF_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "nmlcell" / "jnml_refs"


# --------------------------------------------------------------------------------------
# reading the LEMS file


def _tag(el) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _parse(path: Path):
    return ET.parse(path).getroot()


_UNITS_MS = {"s": 1e3, "ms": 1.0, "us": 1e-3, "min": 6e4}


def _time_ms(text: str) -> float:
    m = re.fullmatch(r"\s*([-+0-9.eE]+)\s*([a-zA-Z]*)\s*", text)
    if not m:
        raise ValueError(f"cannot read time '{text}'")
    unit = m.group(2) or "ms"
    if unit not in _UNITS_MS:
        raise ValueError(f"unknown time unit in '{text}'")
    return float(m.group(1)) * _UNITS_MS[unit]


def find_simulation(root):
    """The <Simulation> (or <Component type="Simulation">) the <Target> names."""
    target = None
    for el in root.iter():
        if _tag(el) == "Target":
            target = el.get("component")
            break
    sims = [el for el in root.iter()
            if _tag(el) == "Simulation" or (_tag(el) == "Component" and el.get("type") == "Simulation")]
    for s in sims:
        if target is None or s.get("id") == target:
            return s
    return sims[0] if sims else None


def lems_outputs(lems_path) -> dict:
    """What the LEMS file's <Simulation> asks to write (and draw)."""
    root = _parse(Path(lems_path))
    sim = find_simulation(root)
    if sim is None:
        raise ValueError(f"{lems_path}: no <Simulation>")
    out = {"dt": _time_ms(sim.get("step")), "duration": _time_ms(sim.get("length")),
           "outputs": [], "events": [], "lines": []}
    for el in sim:
        t = _tag(el)
        if t == "OutputFile":
            cols = [(c.get("id"), c.get("quantity")) for c in el if _tag(c) == "OutputColumn"]
            out["outputs"].append({"id": el.get("id"), "file": el.get("fileName"), "columns": cols})
        elif t == "EventOutputFile":
            sels = [(s.get("id"), s.get("select"), s.get("eventPort")) for s in el
                    if _tag(s) == "EventSelection"]
            out["events"].append({"id": el.get("id"), "file": el.get("fileName"),
                                  "format": el.get("format"), "selections": sels})
        elif t == "Display":
            for ln in el:
                if _tag(ln) == "Line" and ln.get("quantity"):
                    out["lines"].append((ln.get("id"), ln.get("quantity")))
    return out


def _includes(path: Path) -> list[Path]:
    try:
        root = _parse(path)
    except (ET.ParseError, OSError):
        return []
    found = []
    for el in root.iter():
        t = _tag(el)
        ref = el.get("file") if t == "Include" else el.get("href") if t == "include" else None
        if ref and "://" not in ref:
            p = (path.parent / ref).resolve()
            if p.is_file():
                found.append(p)
    return found


def include_root(lems_path) -> Path:
    """Smallest folder holding the LEMS file and every local file it includes."""
    lems_path = Path(lems_path).resolve()
    seen, todo = {lems_path}, [lems_path]
    while todo:
        for p in _includes(todo.pop()):
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return Path(os.path.commonpath([str(p.parent) for p in seen]))


def tree_hash(root: Path, extra: str = "") -> str:
    h = hashlib.sha256()
    h.update(extra.encode())
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(b"\0" + p.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# reading output files


def read_dat(path: Path) -> np.ndarray:
    """A LEMS OutputFile: whitespace-separated rows, time first."""
    return np.loadtxt(path, dtype=np.float64, ndmin=2)


def read_events(path: Path, fmt: str | None, sel_ids) -> dict:
    """{selection id: times (s)} from an EventOutputFile (ID_TIME or TIME_ID;
    without a format, the column whose values are selection ids is the id)."""
    rows = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    sel_ids = [str(s) for s in sel_ids]
    fmt = (fmt or "").upper()
    if fmt not in ("ID_TIME", "TIME_ID"):
        fmt = "ID_TIME" if rows and all(r[0] in sel_ids for r in rows) else "TIME_ID"
    times: dict[str, list[float]] = {s: [] for s in sel_ids}
    for r in rows:
        i, t = (r[0], r[1]) if fmt == "ID_TIME" else (r[1], r[0])
        times.setdefault(i, []).append(float(t))
    return {k: np.sort(np.asarray(v, dtype=np.float64)) for k, v in times.items()}


def _pick_columns(defs: list[dict], ncols: int):
    """Of the OutputFile definitions naming one file, the one it holds (the
    last with matching column count: the last written overwrites)."""
    match = [d for d in defs if len(d["columns"]) == ncols]
    return (match or defs)[-1]


# --------------------------------------------------------------------------------------
# the reference


def _inject_display_outputs(lems_file: Path, lines) -> None:
    """Add an OutputFile with the Display lines to the copy of the LEMS file
    (text edit before </Simulation> keeps the rest of the file as it is)."""
    text = lems_file.read_text()
    used, cols = set(), []
    for k, (lid, q) in enumerate(lines):
        cid = re.sub(r"\W", "_", lid or f"c{k}")
        while cid in used:
            cid += f"_{k}"
        used.add(cid)
        cols.append(f'<OutputColumn id={quoteattr(cid)} quantity={quoteattr(q)}/>')
    block = (f'<OutputFile id="{INJECTED_ID}" fileName="{INJECTED_FILE}">'
             + "".join(cols) + "</OutputFile>\n")
    pos = text.rfind("</Simulation>")
    if pos < 0:
        raise ValueError(f"{lems_file}: cannot find </Simulation> to add the display outputs to")
    lems_file.write_text(text[:pos] + block + text[pos:])


def _run_jnml(pynml: str, lems: Path, timeout: float) -> float:
    spec = lems_outputs(lems)
    for f in [o["file"] for o in spec["outputs"]] + [e["file"] for e in spec["events"]]:
        (lems.parent / f).parent.mkdir(parents=True, exist_ok=True)
        (lems.parent / f).unlink(missing_ok=True)
    env = dict(os.environ)
    env.setdefault("JAVA_TOOL_OPTIONS", "-Djava.awt.headless=true")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([pynml, lems.name, "-nogui"], cwd=lems.parent, capture_output=True,
                              text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"jNeuroML did not finish {lems.name} within {timeout:.0f} s") from e
    wall = time.perf_counter() - t0
    missing = [f for f in [o["file"] for o in spec["outputs"]] + [e["file"] for e in spec["events"]]
               if not (lems.parent / f).is_file()]
    if proc.returncode != 0 or missing:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise RuntimeError(f"jNeuroML failed on {lems.name} (exit {proc.returncode}"
                           f"{', missing ' + ', '.join(missing) if missing else ''}):\n{tail}")
    return wall


def _collect(lems: Path, spec: dict, injected: bool) -> tuple[dict, dict, list]:
    outputs, events, notes = {}, {}, []
    by_file: dict[str, list] = {}
    for o in spec["outputs"]:
        by_file.setdefault(os.path.normpath(o["file"]), []).append(o)
    for fname, defs in by_file.items():
        data = read_dat(lems.parent / fname)
        d = _pick_columns(defs, data.shape[1] - 1)
        for other in defs:
            if other is not d:
                notes.append(f"OutputFile '{other['id']}' is overwritten by '{d['id']}' "
                             f"(both write {fname}); only '{d['id']}' is compared")
        if data.shape[1] - 1 != len(d["columns"]):
            raise RuntimeError(f"{fname}: {data.shape[1] - 1} data columns, the LEMS file names "
                               f"{len(d['columns'])}")
        outputs[d["id"]] = {
            "file": d["file"], "injected": injected and d["id"] == INJECTED_ID, "t": data[:, 0],
            "columns": {cid: (q, data[:, k + 1]) for k, (cid, q) in enumerate(d["columns"])}}
    for e in spec["events"]:
        sel_ids = [s[0] for s in e["selections"]]
        events[e["id"]] = {"file": e["file"], "format": (e["format"] or "").upper() or None,
                           "selections": {s[0]: s[1] for s in e["selections"]},
                           "times": read_events(lems.parent / e["file"], e["format"], sel_ids)}
    return outputs, events, notes


def _save(dest: Path, ref: dict) -> None:
    arrays, meta = {}, {k: ref[k] for k in ("dt", "duration", "lems", "jnml_wall_s",
                                              "pynml_version", "notes")}
    meta["outputs"], meta["events"] = {}, {}
    for n, (fid, o) in enumerate(ref["outputs"].items()):
        arrays[f"o{n}_t"] = o["t"]
        cols = []
        for m, (cid, (q, a)) in enumerate(o["columns"].items()):
            arrays[f"o{n}_c{m}"] = a
            cols.append([cid, q])
        meta["outputs"][fid] = {"n": n, "file": o["file"], "injected": o["injected"], "columns": cols}
    for n, (fid, e) in enumerate(ref["events"].items()):
        ids = list(e["times"])
        for m, sid in enumerate(ids):
            arrays[f"e{n}_{m}"] = e["times"][sid]
        meta["events"][fid] = {"n": n, "file": e["file"], "format": e["format"],
                               "selections": e["selections"], "ids": ids}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".tmp-"))
    try:
        np.savez(tmp / "ref.npz", **arrays)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.replace(tmp, dest)
        except OSError:  # another process stored it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load(src: Path) -> dict:
    meta = json.loads((src / "meta.json").read_text())
    with np.load(src / "ref.npz") as z:
        arr = {k: z[k] for k in z.files}
    ref = {k: meta[k] for k in ("dt", "duration", "lems", "jnml_wall_s", "pynml_version", "notes")}
    ref["outputs"], ref["events"], ref["cached"] = {}, {}, True
    for fid, o in meta["outputs"].items():
        n = o["n"]
        ref["outputs"][fid] = {"file": o["file"], "injected": o["injected"], "t": arr[f"o{n}_t"],
                               "columns": {cid: (q, arr[f"o{n}_c{m}"])
                                           for m, (cid, q) in enumerate(o["columns"])}}
    for fid, e in meta["events"].items():
        n = e["n"]
        ref["events"][fid] = {"file": e["file"], "format": e["format"], "selections": e["selections"],
                              "times": {sid: arr[f"e{n}_{m}"] for m, sid in enumerate(e["ids"])}}
    return ref


def jnml_reference(lems_path, *, timeout: float = 300.0, use_cache: bool = True) -> dict:
    """jNeuroML's outputs for ``lems_path`` (see the module docstring)."""
    lems_path = Path(lems_path).resolve()
    if not lems_path.is_file():
        pytest.skip(f"{lems_path} not found")
    java, pynml = find_java(), find_pynml()
    if java is None:
        pytest.skip("`java` not found on PATH (jNeuroML needs a Java runtime)")
    if pynml is None:
        pytest.skip("pyNeuroML's `pynml` command not found")
    root = include_root(lems_path)
    version = pynml_version(pynml)
    key = tree_hash(root, extra=f"{FORMAT_VERSION}|{version}|{lems_path.relative_to(root).as_posix()}")
    dest = cache_root() / key
    if use_cache and (dest / "meta.json").is_file():
        try:
            return _load(dest)
        except Exception:  # noqa: BLE001 - a damaged entry is recomputed
            shutil.rmtree(dest, ignore_errors=True)

    spec = lems_outputs(lems_path)
    with tempfile.TemporaryDirectory(prefix="nmlcell-jnml-") as tmp:
        copy = Path(tmp) / root.name
        shutil.copytree(root, copy)
        lems = copy / lems_path.relative_to(root)
        injected = not spec["outputs"] and not spec["events"] and bool(spec["lines"])
        if injected:
            _inject_display_outputs(lems, spec["lines"])
            spec = lems_outputs(lems)
        wall = _run_jnml(pynml, lems, timeout)
        outputs, events, notes = _collect(lems, spec, injected)
    if injected:
        notes.append("the LEMS file writes no output file: its <Display> lines were added as an "
                     f"<OutputFile> ({INJECTED_FILE}) to jNeuroML's copy")
    ref = {"outputs": outputs, "events": events, "dt": spec["dt"], "duration": spec["duration"],
           "lems": str(lems_path), "jnml_wall_s": wall, "pynml_version": version, "notes": notes,
           "cached": False}
    if use_cache:
        try:
            _save(dest, ref)
        except OSError:
            pass  # a read-only home: run without the cache
    return ref


# --------------------------------------------------------------------------------------
# comparison

_CELL = (re.compile(r"^([^/\[\]]+)\[(\d+)\]"), re.compile(r"^([^/\[\]]+)/(\d+)(?:/|$)"))


def cell_key(quantity: str) -> str | None:
    """'pop[3]/...' or 'pop/3/comp/...' -> 'pop[3]'."""
    for rx in _CELL:
        m = rx.match(quantity.strip())
        if m:
            return f"{m.group(1)}[{int(m.group(2))}]"
    return None


def voltage_scale(quantity: str, values: np.ndarray) -> float | None:
    """Factor to mV when the column is a membrane potential: its last path
    element starts with v (v, V, Vs, Vd...) and the values are in volts
    (|x| < 1) or are mV numbers (a dimensionless LEMS voltage, range > 20).
    None for any other column."""
    name = quantity.rstrip("/").rsplit("/", 1)[-1]
    if not name[:1] in ("v", "V") or values.size == 0 or not np.all(np.isfinite(values)):
        return None
    amax, rng = float(np.max(np.abs(values))), float(np.ptp(values))
    if amax < 1.0:
        return 1e3
    if rng > 20.0 and amax < 1000.0:
        return 1.0
    return None


def _crossings(t, v, thr):
    i = np.nonzero((v[1:] > thr) & (v[:-1] <= thr))[0]
    return t[i + 1]


def _resets(t, v, drop=5.0):
    i = np.nonzero(v[1:] - v[:-1] < -drop)[0]
    return t[i + 1]


def spike_events(t_ms, v_ref, v_ours):
    """Spike times (ms) of both traces by one method, chosen on both: upward
    crossings of 0 mV, else of -20 mV, else resets (a drop of more than 5 mV
    in one step, as in integrate-and-fire cells). Returns (label, ref, ours)."""
    for thr in (0.0, -20.0):
        a, b = _crossings(t_ms, v_ref, thr), _crossings(t_ms, v_ours, thr)
        if len(a) or len(b):
            return f"upward crossings of {thr:g} mV", a, b
    return "resets (drops > 5 mV in one step)", _resets(t_ms, v_ref), _resets(t_ms, v_ours)


def _windows_mask(t_ms, times, half):
    mask = np.zeros(t_ms.shape, dtype=bool)
    if len(times) == 0:
        return mask
    ts = np.sort(np.asarray(times))
    lo = np.searchsorted(ts, t_ms - half, side="left")
    hi = np.searchsorted(ts, t_ms + half, side="right")
    return hi > lo


def _compare_times(label, a_ms, b_ms, tol, failures):
    """a: jNeuroML, b: nmlcell."""
    if len(a_ms) != len(b_ms):
        n = min(len(a_ms), len(b_ms))
        d = np.abs(np.asarray(a_ms[:n]) - np.asarray(b_ms[:n]))
        first = int(np.argmax(d > tol)) if np.any(d > tol) else n
        at = a_ms[first] if first < len(a_ms) else b_ms[first]
        failures.append(f"{label}: {len(b_ms)} spikes in nmlcell, {len(a_ms)} in jNeuroML "
                        f"(first differing spike #{first + 1} at {at:.4f} ms; jNeuroML "
                        f"{_fmt_list(a_ms)}, nmlcell {_fmt_list(b_ms)})")
        return
    if len(a_ms) == 0:
        return
    d = np.abs(np.asarray(a_ms) - np.asarray(b_ms))
    if np.any(d > tol):
        k = int(np.argmax(d > tol))
        failures.append(f"{label}: {int(np.sum(d > tol))} of {len(d)} spikes differ by more than "
                        f"{tol:g} ms (max {d.max():.4f} ms at spike #{int(np.argmax(d)) + 1}; first: "
                        f"spike #{k + 1}, jNeuroML {a_ms[k]:.4f} ms, nmlcell {b_ms[k]:.4f} ms)")


def _fmt_list(x, n=6):
    x = list(np.round(np.asarray(x, dtype=float), 3))
    s = ", ".join(f"{v:g}" for v in x[:n])
    return f"[{s}{', ...' if len(x) > n else ''}]"


def _nmlcell_column(res, written: Path | None, out, cid, k, q):
    """nmlcell's trace (SI) for one reference column, and its time axis (s)."""
    if out["injected"] or written is None:
        if q not in res:
            raise KeyError(f"'{q}' was not recorded by nmlcell")
        return res.t * 1e-3, np.asarray(res.si(q), dtype=float)
    data = written
    return data[:, 0], data[:, k + 1]


def compare(ref: dict, res, outdir=None, *, spike_tol_ms: float = 0.1, v_tol_mV: float = 0.5,
            rel_tol: float = 0.01, window_ms: float = 2.0, stats: list | None = None) -> list[str]:
    """Differences between jNeuroML's outputs (``ref``) and an nmlcell run.

    ``res.write(outdir)`` (a temporary folder by default) writes nmlcell's
    output files, which are read back and compared column by column with
    jNeuroML's, matched by file and column id:

    - a membrane potential (see ``voltage_scale``): the same number of spikes
      (``spike_events``), each within ``spike_tol_ms``; outside
      ``window_ms`` around every spike of either trace, ``|dv| <= v_tol_mV``;
    - any other column: ``|d| <= rel_tol`` of the column's range (max - min
      of jNeuroML's trace) outside the spike windows of the same cell;
    - event files: per selection the same number of events, each within
      ``spike_tol_ms``.

    Returns one line per difference (empty list: they match). ``stats``, a
    list, receives one line per compared column (spike count, largest spike
    time difference, largest trace difference), pass or fail.
    """
    if stats is None:
        stats = []
    failures: list[str] = []
    own_tmp = None
    if outdir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="nmlcell-out-")
        outdir = own_tmp.name
    try:
        outdir = Path(outdir)
        res.write(outdir)
        # ---- pass 1: read everything, find the voltage columns and their spikes
        cols = []  # (label, fid, cid, q, t_ms, a, b)
        for fid, out in ref["outputs"].items():
            written = None
            if not out["injected"]:
                p = outdir / out["file"]
                if not p.is_file():
                    failures.append(f"{out['file']}: nmlcell wrote no such file")
                    continue
                written = read_dat(p)
                if written.shape[1] != len(out["columns"]) + 1:
                    failures.append(f"{out['file']}: nmlcell wrote {written.shape[1] - 1} data columns, "
                                    f"jNeuroML {len(out['columns'])}")
                    continue
            t_ref = np.asarray(out["t"])
            for k, (cid, (q, a)) in enumerate(out["columns"].items()):
                label = f"{out['file']}:{cid} ({q})"
                try:
                    t_b, b = _nmlcell_column(res, written, out, cid, k, q)
                except KeyError as e:
                    failures.append(f"{label}: {e}")
                    continue
                if len(t_b) != len(t_ref):
                    failures.append(f"{label}: nmlcell has {len(t_b)} rows, jNeuroML {len(t_ref)}")
                    n = min(len(t_b), len(t_ref))
                    t_ref_c, a, t_b, b = t_ref[:n], np.asarray(a)[:n], t_b[:n], b[:n]
                else:
                    t_ref_c = t_ref
                # jNeuroML accumulates t += dt and prints ~8 digits: rows must
                # match to well within a step, not to the last digit
                dt_s = float(np.median(np.diff(t_ref_c))) if len(t_ref_c) > 1 else 0.0
                if len(t_ref_c) and np.max(np.abs(t_b - t_ref_c)) > max(0.25 * dt_s, 1e-12):
                    j = int(np.argmax(np.abs(t_b - t_ref_c) > max(0.25 * dt_s, 1e-12)))
                    failures.append(f"{label}: time axes differ from row {j} "
                                    f"(jNeuroML {t_ref_c[j]:.9g} s, nmlcell {t_b[j]:.9g} s)")
                    continue
                cols.append((label, q, t_ref_c * 1e3, np.asarray(a, dtype=float), np.asarray(b, dtype=float)))

        spikes_of_cell: dict[str | None, list] = {}
        vcols = []
        for label, q, t_ms, a, b in cols:
            fac = voltage_scale(q, a)
            if fac is None:
                continue
            how, sa, sb = spike_events(t_ms, a * fac, b * fac)
            vcols.append((label, q, t_ms, a * fac, b * fac, how, sa, sb))
            spikes_of_cell.setdefault(cell_key(q), []).extend(list(sa) + list(sb))
        all_spikes = [s for v in spikes_of_cell.values() for s in v]
        if not vcols:  # no voltage recorded: windows from nmlcell's own spike events
            for key, times in getattr(res, "spikes", {}).items():
                spikes_of_cell.setdefault(key, []).extend(list(np.asarray(times)))
            all_spikes = [s for v in spikes_of_cell.values() for s in v]

        # ---- pass 2: voltages
        for label, q, t_ms, va, vb, how, sa, sb in vcols:
            _compare_times(f"{label} spikes [{how}]", sa, sb, spike_tol_ms + 1e-6, failures)
            mask = ~_windows_mask(t_ms, list(sa) + list(sb), window_ms)
            _check_trace(label, t_ms, va, vb, mask, v_tol_mV, "mV", failures,
                         extra=f" outside +-{window_ms:g} ms of spikes")
            dsp = (f"{np.max(np.abs(np.asarray(sa) - np.asarray(sb))):.3g} ms"
                   if len(sa) == len(sb) and len(sa) else "-")
            stats.append(f"{label}: spikes {len(sa)}/{len(sb)} (jNeuroML/nmlcell) [{how}], max spike "
                         f"shift {dsp}, max |dv| {_maxdiff(va, vb, mask):.3g} mV outside spike windows")

        # ---- pass 3: everything else
        vlabels = {c[0] for c in vcols}
        for label, q, t_ms, a, b in cols:
            if label in vlabels:
                continue
            key = cell_key(q)
            wins = spikes_of_cell.get(key, all_spikes if key is None else [])
            mask = ~_windows_mask(t_ms, wins, window_ms)
            finite = a[np.isfinite(a)]
            rng = float(np.ptp(finite)) if finite.size else 0.0
            amax = float(np.max(np.abs(finite))) if finite.size else 0.0
            tol = max(rel_tol * rng, 1e-6 * amax, 1e-300)
            _check_trace(label, t_ms, a, b, mask, tol, "SI", failures,
                         extra=(f" (tolerance {rel_tol:.0%} of the range {rng:.4g})"
                                + (f" outside +-{window_ms:g} ms of spikes" if len(wins) else "")))
            stats.append(f"{label}: max |d| {_maxdiff(a, b, mask):.3g} = "
                         f"{_maxdiff(a, b, mask) / rng if rng else 0.0:.3%} of the range {rng:.4g}")

        # ---- event files
        for fid, ev in ref["events"].items():
            p = outdir / ev["file"]
            if not p.is_file():
                failures.append(f"{ev['file']}: nmlcell wrote no such file")
                continue
            ours = read_events(p, ev["format"], list(ev["selections"]))
            for sid, ta in ev["times"].items():
                tb = ours.get(sid, np.zeros(0))
                stats.append(f"{ev['file']}: events of '{sid}': {len(ta)}/{len(tb)} (jNeuroML/nmlcell)")
                _compare_times(f"{ev['file']}: events of '{sid}' ({ev['selections'].get(sid)})",
                               np.asarray(ta) * 1e3, np.asarray(tb) * 1e3, spike_tol_ms + 1e-6, failures)
    finally:
        if own_tmp is not None:
            own_tmp.cleanup()
    return failures


def _maxdiff(a, b, mask) -> float:
    ok = mask & np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok]))) if np.any(ok) else 0.0


def _check_trace(label, t_ms, a, b, mask, tol, unit, failures, extra=""):
    bad_nan = np.isfinite(a) != np.isfinite(b)
    if np.any(bad_nan & mask):
        j = int(np.argmax(bad_nan & mask))
        failures.append(f"{label}: not finite in one simulator only, first at t = {t_ms[j]:.4f} ms "
                        f"(jNeuroML {a[j]}, nmlcell {b[j]})")
        return
    ok = mask & np.isfinite(a)
    if not np.any(ok):
        return
    d = np.where(ok, np.abs(a - b), 0.0)
    if np.max(d) > tol:
        j = int(np.argmax(d > tol))
        m = int(np.argmax(d))
        u = " mV" if unit == "mV" else ""
        failures.append(
            f"{label}: max |difference| {d[m]:.4g}{u} > {tol:.4g}{u}{extra}, at t = {t_ms[m]:.4f} ms "
            f"(jNeuroML {a[m]:.6g}, nmlcell {b[m]:.6g}); first beyond tolerance at t = {t_ms[j]:.4f} ms "
            f"(jNeuroML {a[j]:.6g}, nmlcell {b[j]:.6g}); {int(np.sum(d > tol))} of {int(np.sum(ok))} "
            f"samples beyond")
