"""A C++ kernel that cannot be built (nmlcell/lower/_hines_ffi.py) is
reported once per process as a one-line KernelBuildWarning naming what
failed (no compiler / the compiler's first error line and the build log)
and how to silence it; NMLCELL_NO_FFI=1 chooses the JAX path silently. The
compilers here are fakes: nothing is compiled."""
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

import nmlcell  # noqa: F401  (configures JAX: float64)
from nmlcell.errors import KernelBuildWarning
from nmlcell.lower import _deliver_ffi, _hines_ffi, cable

from test_cable_groups import SIZES, dense, system

ERROR_LINE = "hines_cable_bwd64.cc:7:3: error: expected ';' before '}' token"


def _failing_cxx(tmp_path):
    cxx = tmp_path / "badcxx"
    cxx.write_text("#!/bin/sh\n"
                   'case "$*" in *hines_cable_bwd64.cc*) echo "In file included from x.h:1," >&2; '
                   f'echo "{ERROR_LINE}" >&2; echo "   }}" >&2; exit 1;; esac\n'
                   'while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then echo x > "$2"; fi; shift; done\n')
    cxx.chmod(0o755)
    return str(cxx)


def _fresh(monkeypatch, tmp_path, compiler):
    """Fresh kernel states (restored after the test) and cache; ``compiler``: path or None."""
    for mod in (_hines_ffi, _deliver_ffi):
        monkeypatch.setattr(mod, "_state", {"tried": False, "ok": False, "why": "not tried", "path": None})
    monkeypatch.setattr(_hines_ffi, "_extra_state", {"tried": False, "ok": False, "why": "not tried", "path": None})
    monkeypatch.setattr(_hines_ffi, "_warned", [])
    monkeypatch.setattr(_hines_ffi, "_compiler", lambda: compiler)
    monkeypatch.setenv("NMLCELL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NMLCELL_NO_FFI", raising=False)


def _caught(fn):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn()
    return out, [w for w in rec if issubclass(w.category, KernelBuildWarning)]


def test_compile_error_warns_once_with_first_error_line_and_log(tmp_path, monkeypatch):
    _fresh(monkeypatch, tmp_path, _failing_cxx(tmp_path))
    ok, rec = _caught(_hines_ffi.load)
    assert ok is False and len(rec) == 1
    msg = str(rec[0].message)
    assert "\n" not in msg and ERROR_LINE in msg and "NMLCELL_NO_FFI=1" in msg and "JAX" in msg
    log = Path(msg.split("build log: ")[1].split(")")[0])
    assert log.is_file() and "In file included from" in log.read_text()  # the whole output is kept
    assert "expected ';'" in _hines_ffi.status()["why"]
    # the other kernels failing too: no second warning in this process
    (ok2, ok3), rec2 = _caught(lambda: (_hines_ffi.load_extra(), _deliver_ffi.load()))
    assert ok2 is False and rec2 == []
    # shown by Python's default format: one line, no source line under it
    text = warnings.formatwarning(rec[0].message, rec[0].category, rec[0].filename, rec[0].lineno)
    assert text.count("\n") == 1 and "KernelBuildWarning" in text


def test_no_compiler_warns(tmp_path, monkeypatch):
    _fresh(monkeypatch, tmp_path, None)
    ok, rec = _caught(_deliver_ffi.load)
    assert ok is False and len(rec) == 1 and "no C++ compiler" in str(rec[0].message)


def test_no_ffi_env_is_silent(tmp_path, monkeypatch):
    _fresh(monkeypatch, tmp_path, None)
    monkeypatch.setenv("NMLCELL_NO_FFI", "1")
    (a, b, c), rec = _caught(lambda: (_hines_ffi.load(), _hines_ffi.load_extra(), _deliver_ffi.load()))
    assert (a, b, c) == (False, False, False) and rec == []


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the C++ kernel is a CPU kernel")
def test_deferred_trace_then_failed_build_warns(tmp_path, monkeypatch):
    """A cable solve traced while the build runs in another thread; the
    build then fails: the lowering takes the JAX path (exact) and the
    warning is emitted (by the build's thread)."""
    _fresh(monkeypatch, tmp_path, "c++")
    gate, started = threading.Event(), threading.Event()

    def build(cxx):
        started.set()
        assert gate.wait(30.0)
        raise _hines_ffi.BuildFailed(f"c++ -c x failed:\n{ERROR_LINE}\n", None)

    monkeypatch.setattr(_hines_ffi, "_build", build)
    cs, rng = system(SIZES, seed=23)
    n = cs.tree.n
    V, I, D = rng.normal(size=n), rng.normal(size=n), rng.uniform(0.5, 2.0, n)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        th = threading.Thread(target=_hines_ffi.load, daemon=True)
        th.start()
        assert started.wait(10.0)
        traced = jax.jit(lambda V, I, D: cable.cable_solve(cs, V, I, D)).trace(V, I, D)
        assert "nmlcell_ffi_deferred" in str(traced.jaxpr)
        assert not [w for w in rec if issubclass(w.category, KernelBuildWarning)]  # not yet failed
        gate.set()
        x = traced.lower().compile()(V, I, D)
        th.join(10.0)
    got = [w for w in rec if issubclass(w.category, KernelBuildWarning)]
    assert len(got) == 1 and ERROR_LINE in str(got[0].message)
    np.testing.assert_allclose(np.asarray(x), dense(cs, V, I, D), rtol=1e-10, atol=1e-12)


def test_cli_prints_one_line(tmp_path):
    """`nmlcell run` on a two-section NeuroML cell with a failing compiler
    (fresh cache, fresh process): exit 0, and stderr is the one warning line."""
    lems = Path(__file__).parent / "data" / "nml_mc" / "LEMS_hh_two_sec.xml"
    env = {k: v for k, v in os.environ.items() if k not in ("NMLCELL_NO_FFI", "PYTHONWARNINGS")}
    env.update(CXX=_failing_cxx(tmp_path), NMLCELL_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "nmlcell.cli", "run", str(lems), "--quiet", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "KernelBuildWarning" in lines[0] and ERROR_LINE in lines[0], r.stderr
