"""Shared test helpers.

Fixtures
--------
``corpus``          Path to the real-model corpus, ``../shared/corpus`` beside the
                    repo root (override with ``NMLCELL_CORPUS``); the test is
                    skipped when it is absent, as on a clean clone.
``java_available``  Path of the ``java`` executable; skips the test when there is
                    no working Java runtime (jNeuroML needs one at test time).
``pynml``           Path of pyNeuroML's ``pynml`` command (implies Java).

Marker
------
``@pytest.mark.requires_java``  same skip as the ``java_available`` fixture, for
                    tests that call jNeuroML without asking for the fixture.

Reference data produced by jNeuroML ahead of time lives in ``tests/data`` (see
``tests/refgen.py``); tests that only read it need neither Java nor the corpus.

JAX is configured by nmlcell itself on import: do not set JAX options here.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS_DATA = REPO_ROOT / "tests" / "data"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "requires_java: needs a Java runtime at test time (jNeuroML); skipped when `java` is missing",
    )


@functools.lru_cache(maxsize=None)
def _java() -> tuple[str | None, str]:
    """(path to a working ``java``, or None; the reason when None)."""
    exe = shutil.which("java")
    if exe is None:
        return None, ("`java` not found on PATH: jNeuroML needs a Java runtime "
                      "(e.g. `apt-get install default-jre-headless`)")
    try:
        proc = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"`{exe} -version` failed: {e}"
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        return None, f"`{exe} -version` failed: {msg[0] if msg else proc.returncode}"
    return exe, ""


def have_java() -> bool:
    """True when a working ``java`` is on PATH (for ``skipif`` conditions)."""
    return _java()[0] is not None


def pytest_runtest_setup(item):
    if item.get_closest_marker("requires_java") is not None:
        exe, reason = _java()
        if exe is None:
            pytest.skip(reason)


@pytest.fixture(scope="session")
def java_available() -> str:
    exe, reason = _java()
    if exe is None:
        pytest.skip(reason)
    return exe


@pytest.fixture(scope="session")
def pynml(java_available) -> str:
    exe = shutil.which("pynml") or str(Path(sys.executable).parent / "pynml")
    if not Path(exe).exists():
        pytest.skip("pyNeuroML's `pynml` command not found")
    return exe


@pytest.fixture(scope="session")
def corpus() -> Path:
    env = os.environ.get("NMLCELL_CORPUS")
    path = Path(env) if env else (REPO_ROOT / ".." / "shared" / "corpus").resolve()
    if not path.is_dir():
        pytest.skip(f"model corpus not found at {path} (absent on a clean clone; "
                    "set NMLCELL_CORPUS to use another location)")
    return path
