"""Write <OutputFile> and <EventOutputFile>s as jNeuroML does: the same
file names (relative to the LEMS file's folder, or ``out_dir``), one row
per time step, tab-separated, time first, SI units. Files are written to a
temporary name and renamed, so a failed run never leaves half a file."""
from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ..errors import OptionError


def _target(base: Path, name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else base / p


def planned_paths(sim, out_dir, source_dir) -> list[Path]:
    base = Path(out_dir) if out_dir is not None else Path(source_dir)
    return [_target(base, o.file_name) for o in sim.outputs] + \
           [_target(base, e.file_name) for e in sim.event_outputs]


def check_writable(sim, out_dir, source_dir):
    """Fail before simulating if an output path names nothing writable."""
    if out_dir is not None:
        od = Path(out_dir)
        if od.exists() and not od.is_dir():
            raise OptionError(f"--out '{out_dir}' is a file, not a folder", element="out")
    for p in planned_paths(sim, out_dir, source_dir):
        if p.exists() and p.is_dir():
            raise OptionError(f"output file '{p}' is a folder", element="OutputFile")
        parent = p.parent
        while not parent.exists():
            parent = parent.parent
        if not os.access(parent, os.W_OK):
            raise OptionError(f"cannot write output file '{p}' (folder not writable)", element="OutputFile")


def _atomic_write(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".nmlcell-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_outputs(res, out_dir=None) -> list[Path]:
    sim = res.ir.simulation
    if sim is None:
        return []
    base = Path(out_dir) if out_dir is not None else Path(res.source_dir)
    texts: list[tuple[Path, str]] = []
    t_si = res.t * 1e-3
    for o in sim.outputs:
        cols = [t_si] + [res.si(c.quantity) for c in o.columns]
        mat = np.column_stack(cols)
        buf = io.StringIO()
        np.savetxt(buf, mat, fmt="%.9g", delimiter="\t", newline="\t\n")
        texts.append((_target(base, o.file_name), buf.getvalue()))
    for e in sim.event_outputs:
        rows = []
        for k, sel in enumerate(e.selections):
            key = _cell_key(sel.select)
            times = res.spikes.get(key, np.zeros(0))
            for tt in times:
                rows.append((tt * 1e-3, sel.id))
        rows.sort(key=lambda r: r[0])
        if e.format.upper() == "ID_TIME":
            body = "".join(f"{i}\t{t:.9g}\n" for t, i in rows)
        else:
            body = "".join(f"{t:.9g}\t{i}\n" for t, i in rows)
        texts.append((_target(base, e.file_name), body))
    written = []
    for path, text in texts:  # everything computed first: no half-written set
        _atomic_write(path, text)
        written.append(path)
    return written


def _cell_key(select: str) -> str:
    s = select.strip()
    m = re.match(r"^(\w+)\[(\d+)\]$", s) or re.match(r"^(\w+)/(\d+)/\w+$", s)
    if m:
        return f"{m.group(1)}[{int(m.group(2))}]"
    return s
