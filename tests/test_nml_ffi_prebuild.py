"""The C++ tree-solve kernel is built in a background thread when a
multi-compartment NeuroML cell is imported (nml_cell.prebuild_tree_kernel):
once per process, never with NMLCELL_NO_FFI, and the first cable solve
waits for that build instead of starting a second one."""
import threading

from nmlcell.importers import nml_cell
from nmlcell.lower import _hines_ffi


def _fake_load(calls, gate):
    def load():
        calls.append(threading.current_thread().name)
        gate.wait(5.0)
        return False
    return load


def test_prebuild_once_in_background(monkeypatch):
    calls, gate = [], threading.Event()
    monkeypatch.setattr(_hines_ffi, "load", _fake_load(calls, gate))
    monkeypatch.setattr(_hines_ffi, "_state", {"tried": False, "ok": False, "why": "not tried", "path": None})
    monkeypatch.setattr(nml_cell, "_prebuild", {})
    monkeypatch.delenv("NMLCELL_NO_FFI", raising=False)
    nml_cell.prebuild_tree_kernel()
    nml_cell.prebuild_tree_kernel()  # a second cell type in the same process: no second build
    t = next(t for t in threading.enumerate() if t.name == "nmlcell-ffi-build")
    assert t.daemon  # a process that never simulates does not wait for g++ at exit
    gate.set()
    t.join(5.0)
    assert calls == ["nmlcell-ffi-build"]


def test_prebuild_respects_no_ffi(monkeypatch):
    calls, gate = [], threading.Event()
    gate.set()
    monkeypatch.setattr(_hines_ffi, "load", _fake_load(calls, gate))
    monkeypatch.setattr(nml_cell, "_prebuild", {})
    monkeypatch.setenv("NMLCELL_NO_FFI", "1")
    nml_cell.prebuild_tree_kernel()
    assert not any(t.name == "nmlcell-ffi-build" for t in threading.enumerate())
    assert calls == []


def test_load_waits_for_a_build_in_progress(tmp_path, monkeypatch):
    """Two threads calling the real load(): the build runs once (the lock),
    both get its answer. The compiler is replaced by one that fails, so
    nothing is compiled here."""
    monkeypatch.setattr(_hines_ffi, "_state", {"tried": False, "ok": False, "why": "not tried", "path": None})
    monkeypatch.delenv("NMLCELL_NO_FFI", raising=False)
    builds = []

    def slow_fail(cxx):
        builds.append(cxx)
        threading.Event().wait(0.3)
        raise RuntimeError("no build in this test")
    monkeypatch.setattr(_hines_ffi, "_build", slow_fail)
    monkeypatch.setattr(_hines_ffi, "_compiler", lambda: "c++")
    out = []
    th = [threading.Thread(target=lambda: out.append(_hines_ffi.load())) for _ in range(2)]
    for t in th:
        t.start()
    for t in th:
        t.join(5.0)
    assert out == [False, False] and len(builds) == 1
    assert "no build in this test" in _hines_ffi.status()["why"]
