"""The C++ kernels' build (nmlcell/lower/_hines_ffi.py): the cache key covers
every source and header, so that editing any of them rebuilds; every file a
source includes from the package is listed, and shipped (package-data)."""
import re
import shutil
from pathlib import Path

from nmlcell.lower import _hines_ffi

ROOT = Path(__file__).resolve().parents[1]


def _copy(tmp_path):
    for name in _hines_ffi.SOURCES + _hines_ffi.HEADERS:
        shutil.copy(_hines_ffi.HERE / name, tmp_path / name)
    return tmp_path


def test_key_changes_with_every_source_and_header(tmp_path):
    folder = _copy(tmp_path)
    attempts = _hines_ffi._attempts()
    base = _hines_ffi._key("g++", attempts, folder)
    assert base == _hines_ffi._key("g++", attempts, _hines_ffi.HERE)  # the copy is the same
    assert base != _hines_ffi._key("g++", [["-O1"]], folder)  # flags
    assert base != _hines_ffi._key("clang++", attempts, folder)
    for name in _hines_ffi.SOURCES + _hines_ffi.HEADERS:
        f = folder / name
        text = f.read_bytes()
        f.write_bytes(text + b"\n// edited\n")
        assert _hines_ffi._key("g++", attempts, folder) != base, name
        f.write_bytes(text)
    assert _hines_ffi._key("g++", attempts, folder) == base


def test_every_local_include_is_listed_and_shipped():
    listed = set(_hines_ffi.SOURCES + _hines_ffi.HEADERS)
    for name in listed:
        for inc in re.findall(r'#include "([^"]+)"', (_hines_ffi.HERE / name).read_text()):
            if not inc.startswith("xla/"):
                assert inc in listed, f"{name} includes {inc}, which the cache key does not cover"
    pyproject = ROOT / "pyproject.toml"
    if pyproject.is_file():  # a source checkout
        text = pyproject.read_text()
        assert '"lower/*.cc"' in text and '"lower/*.h"' in text


def _fake_cxx(tmp_path, fail_on=None):
    """A compiler that logs its arguments and writes its -o file (exit 1 on
    a source named ``fail_on``)."""
    log = tmp_path / "cmds.txt"
    cxx = tmp_path / "fakecxx"
    cxx.write_text("#!/bin/sh\n"
                   f'echo "$@" >> "{log}"\n'
                   + (f'case "$*" in *{fail_on}*) echo "error in {fail_on}" >&2; exit 1;; esac\n' if fail_on else "")
                   + 'while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then echo x > "$2"; fi; shift; done\n')
    cxx.chmod(0o755)
    return str(cxx), log


def test_units_compiled_apart_then_linked(tmp_path, monkeypatch):
    """One compiler process per source (its own flags after the common ones),
    then one link; the library lands in the cache folder whole; the unit
    flags are part of the key."""
    monkeypatch.setenv("NMLCELL_CACHE", str(tmp_path / "cache"))
    cxx, log = _fake_cxx(tmp_path)
    lib = _hines_ffi.build_library(cxx, "libx.so", _hines_ffi.CORE_SOURCES, key_names=_hines_ffi.SOURCES
                                   + _hines_ffi.HEADERS, attempts=[["-O3"]], unit_flags=_hines_ffi.UNIT_FLAGS)
    assert lib.is_file() and [p.name for p in lib.parent.iterdir()] == ["libx.so"]  # no leftovers
    cmds = log.read_text().splitlines()
    compiles, links = [c for c in cmds if " -c " in c], [c for c in cmds if "-shared" in c]
    assert len(compiles) == len(_hines_ffi.CORE_SOURCES) and len(links) == 1
    for name in _hines_ffi.CORE_SOURCES:
        (cmd,) = [c for c in compiles if c.split(" -c ")[1].split()[0].endswith("/" + name)]
        head = cmd.split(" -c ")[0].split()
        extra = list(_hines_ffi.UNIT_FLAGS.get(name, ()))
        assert head[:2] == ["-O3", "-I"]  # the flag set first, its unit's flags last (they win)
        assert head[len(head) - len(extra):] == extra and (extra or "-O1" not in head)
    other = _hines_ffi.build_library(cxx, "libx.so", _hines_ffi.CORE_SOURCES, key_names=_hines_ffi.SOURCES
                                     + _hines_ffi.HEADERS, attempts=[["-O3"]])
    assert other.parent != lib.parent


def test_a_failing_unit_fails_the_build(tmp_path, monkeypatch):
    monkeypatch.setenv("NMLCELL_CACHE", str(tmp_path / "cache"))
    cxx, _ = _fake_cxx(tmp_path, fail_on="hines_cable_bwd64.cc")
    try:
        _hines_ffi.build_library(cxx, "libx.so", _hines_ffi.CORE_SOURCES, attempts=[["-O3"]])
    except RuntimeError as e:
        assert "hines_cable_bwd64.cc" in str(e) and "error in" in str(e)
    else:
        raise AssertionError("the build should have failed")
    assert not list((tmp_path / "cache").rglob("*.so"))
