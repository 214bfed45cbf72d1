"""Tracing overlaps the C++ kernel's build (nmlcell/lower/_hines_ffi.py):
while the float64 cable kernel is being built in another thread, a cable
solve is traced without waiting (a placeholder, ``nmlcell_ffi_deferred``);
lowering waits for the build and emits the FFI call if it succeeded, the
JAX path if it failed. The builds here are stand-ins (a gate the test
opens), so nothing is compiled beyond the kernel other tests build."""
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nmlcell  # noqa: F401  (configures JAX: float64)
from nmlcell.lower import _hines_ffi, cable

from test_cable_groups import SIZES, dense, system

HAVE = jax.default_backend() == "cpu" and cable.ffi_available()


def _slow_build(monkeypatch, result):
    """A fresh kernel state whose build waits for the returned gate, then
    returns ``result(cxx)``; targets already registered are not registered again."""
    gate, started = threading.Event(), threading.Event()
    monkeypatch.setattr(_hines_ffi, "_state", {"tried": False, "ok": False, "why": "not tried", "path": None})
    monkeypatch.delenv("NMLCELL_NO_FFI", raising=False)
    monkeypatch.setattr(_hines_ffi, "_register", lambda so: None)

    def build(cxx):
        started.set()
        assert gate.wait(30.0)
        return result(cxx)

    monkeypatch.setattr(_hines_ffi, "_build", build)
    monkeypatch.setattr(_hines_ffi, "_compiler", lambda: "c++")
    th = threading.Thread(target=_hines_ffi.load, daemon=True)
    th.start()
    assert started.wait(10.0)
    return gate, th


def _case(seed):
    cs, rng = system(SIZES, seed=seed)
    n = cs.tree.n
    V, I = rng.normal(size=n), rng.normal(size=n)
    D = rng.uniform(0.5, 2.0, n)
    return cs, V, I, D


def _step(cs):
    return jax.jit(lambda V, I, D: cable.cable_solve(cs, V, I, D))


@pytest.mark.skipif(not HAVE, reason="the C++ kernel does not build here, or JAX computes on another device")
@pytest.mark.parametrize("succeeds", [True, False])
@pytest.mark.filterwarnings("ignore::nmlcell.errors.KernelBuildWarning")  # the simulated failure
def test_trace_overlaps_the_build(monkeypatch, succeeds):
    real = _hines_ffi.status()["path"]  # the kernel ffi_available() built

    def result(cxx):
        if not succeeds:
            raise RuntimeError("a failing compiler (simulated)")
        return real

    gate, th = _slow_build(monkeypatch, result)
    cs, V, I, D = _case(21)
    f = _step(cs)
    # traced while the build is still running: the placeholder, no wait
    jaxpr = str(jax.make_jaxpr(lambda V, I, D: cable.cable_solve(cs, V, I, D))(V, I, D))
    assert _hines_ffi.building() and "nmlcell_ffi_deferred" in jaxpr
    traced = f.trace(V, I, D)  # the jit's own trace, before the build ends
    # a gradient (the transposed kernel) and a vmap, also traced during the build
    loss = lambda V: jnp.sum(jnp.sin(cable.cable_solve(cs, V, I, D)))  # noqa: E731
    g_traced = jax.jit(jax.grad(loss)).trace(V)
    Vb = V + np.linspace(0.0, 1.0, 5)[:, None]
    vm_traced = jax.jit(jax.vmap(lambda v: cable.cable_solve(cs, v, I, D))).trace(Vb)
    assert "nmlcell_ffi_deferred" in str(g_traced.jaxpr) and "nmlcell_ffi_deferred" in str(vm_traced.jaxpr)
    assert th.is_alive()
    gate.set()  # the build ends; lowering (which waits for it) decides
    hlo = traced.lower().as_text()
    assert ("nmlcell_cable_f64" in hlo) is succeeds
    x = traced.lower().compile()(V, I, D)
    th.join(10.0)
    assert _hines_ffi.status()["ok"] is succeeds
    np.testing.assert_allclose(np.asarray(x), dense(cs, V, I, D), rtol=1e-10, atol=1e-12)
    assert ("nmlcell_cable_t_f64" in g_traced.lower().as_text()) is succeeds
    g = g_traced.lower().compile()(V)
    xb = vm_traced.lower().compile()(Vb)
    with monkeypatch.context() as m:
        m.setenv("NMLCELL_NO_FFI", "1")
        g_ref = jax.grad(loss)(V)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=1e-10, atol=1e-12)
    for k in range(len(Vb)):
        np.testing.assert_allclose(np.asarray(xb[k]), dense(cs, Vb[k], I, D), rtol=1e-10, atol=1e-12)


@pytest.mark.skipif(not HAVE, reason="the C++ kernel does not build here, or JAX computes on another device")
def test_eager_call_waits_for_the_build(monkeypatch):
    """Outside a trace nothing can be deferred: the call waits for the build
    and takes the JAX path if it failed."""
    gate, th = _slow_build(monkeypatch, lambda cxx: (_ for _ in ()).throw(RuntimeError("simulated")))
    cs, V, I, D = _case(22)
    threading.Timer(0.2, gate.set).start()
    x = cable.cable_solve(cs, V, I, D)
    th.join(10.0)
    assert not _hines_ffi.building() and _hines_ffi.status()["ok"] is False
    np.testing.assert_allclose(np.asarray(x), dense(cs, V, I, D), rtol=1e-10, atol=1e-12)


_E2E = r'''
import json, os, sys
import numpy as np
import nmlcell
from nmlcell.lower import _hines_ffi as h
calls = []
_d = h._deferred
def deferred(*a, **k):  # the trace reached a cable solve while g++ runs: let the compiler fail now
    calls.append(1)
    open(os.environ["GATE"], "w").close()
    return _d(*a, **k)
h._deferred = deferred
m = nmlcell.load(sys.argv[1])
r = m.run(progress=False)
q = m.ir.simulation.outputs[0].columns[0].quantity
np.save(sys.argv[2], r.si(q))
print(json.dumps({"deferred": len(calls), "ok": h.status()["ok"], "why": h.status()["why"]}))
'''


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the C++ kernel is a CPU kernel")
def test_a_neuroml_cell_whose_kernel_build_fails_after_tracing(tmp_path):
    """End to end, in a fresh process and cache: a two-section HH cell from
    NeuroML is imported and run while a compiler that fails (once the trace
    has reached the cable solve) builds the kernel; the run takes the JAX
    path and equals a run with NMLCELL_NO_FFI=1."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    lems = Path(__file__).parent / "data" / "nml_mc" / "LEMS_hh_two_sec.xml"
    gate = tmp_path / "gate"
    cxx = tmp_path / "slowfail"
    cxx.write_text(f'#!/bin/sh\nn=0\nwhile [ ! -f "{gate}" ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done\n'
                   'echo "simulated failure" >&2\nexit 1\n')
    cxx.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k not in ("NMLCELL_NO_FFI", "CXX")}
    out = {}
    for tag, extra in (("slowfail", {"CXX": str(cxx)}), ("jax", {"NMLCELL_NO_FFI": "1"})):
        env = dict(base, NMLCELL_CACHE=str(tmp_path / f"cache_{tag}"), GATE=str(gate), **extra)
        r = subprocess.run([sys.executable, "-c", _E2E, str(lems), str(tmp_path / f"{tag}.npy")],
                           capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        out[tag] = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["slowfail"]["deferred"] > 0 and out["slowfail"]["ok"] is False
    assert "simulated failure" in out["slowfail"]["why"]
    assert out["jax"]["deferred"] == 0
    np.testing.assert_allclose(np.load(tmp_path / "slowfail.npy"), np.load(tmp_path / "jax.npy"), rtol=0, atol=1e-12)


@pytest.mark.skipif(not HAVE, reason="the C++ kernel does not build here, or JAX computes on another device")
def test_a_build_failing_between_decision_and_call(monkeypatch):
    """The caller chose the kernel while the build ran; the build failed
    before the kernel call was traced: the call still lowers to the JAX path
    (never to a target that was not registered)."""
    monkeypatch.setattr(_hines_ffi, "_state", {"tried": True, "ok": False, "why": "failed (simulated)",
                                               "path": None, "building": False})
    cs, V, I, D = _case(23)
    ins = [jnp.asarray(x) for arr in (V, I, D) for x in cs.split(arr)]
    f = jax.jit(lambda *v: cable._kernel_call(cs, False, False, v, ()))
    assert "nmlcell_cable_f64" not in f.lower(*ins).as_text()
    x = jnp.concatenate(f(*ins))  # the groups side by side: the caller's order
    np.testing.assert_allclose(np.asarray(x), dense(cs, V, I, D), rtol=1e-10, atol=1e-12)
