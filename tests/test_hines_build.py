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
