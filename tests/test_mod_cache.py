"""The on-disk cache of imported .mod mechanisms (nmlcell/importers/mod_cache.py):
a hit returns an equal Mechanism without importing the file again; a changed
file or INCLUDE, a corrupt entry, NMLCELL_NO_CACHE and NMLCELL_CACHE=off are
handled; failures are not cached; warnings and the load options act the
same on a hit."""
from __future__ import annotations

import pickle
import warnings

import pytest
from sympy import srepr

from nmlcell.errors import ModelImportError, UnsupportedError
from nmlcell.importers import mod_cache
from nmlcell.importers import nmodl_build
from nmlcell.importers.nmodl import load_mod_file
from nmlcell.importers.nmodl_check import NmodlUnitWarning

LEAK = """NEURON { SUFFIX leak NONSPECIFIC_CURRENT i RANGE g, e }
UNITS { (mV) = (millivolt) (mA) = (milliamp) (S) = (siemens) }
PARAMETER { g = %s (S/cm2) e = -70 (mV) }
ASSIGNED { v (mV) i (mA/cm2) }
STATE { m }
INITIAL { m = 1/(1 + exp(-(v + 40)/5)) }
BREAKPOINT { SOLVE st METHOD cnexp  i = g*m*m*(v - e) }
DERIVATIVE st { m' = (1/(1 + exp(-(v + 40)/5)) - m)/(2 + v^2/1000) }
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache folder (NMLCELL_CACHE), the cache switched on, and a
    count of the imports actually run."""
    monkeypatch.setenv("NMLCELL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NMLCELL_NO_CACHE", raising=False)
    built = []
    real = nmodl_build.MechanismBuilder.build

    def counting(self):
        built.append(self.path)
        return real(self)

    monkeypatch.setattr(nmodl_build.MechanismBuilder, "build", counting)
    return tmp_path / "cache" / "mod-ir", built


def _write(folder, name, text):
    p = folder / name
    p.write_text(text)
    return p


def _same(a, b):
    assert a == b
    assert srepr(a.derivatives) == srepr(b.derivatives) and srepr(a.derived) == srepr(b.derived)


def test_hit_returns_an_equal_mechanism(tmp_path, cache):
    folder, built = cache
    f = _write(tmp_path, "leak.mod", LEAK % "0.001")
    cold = load_mod_file(f)
    assert len(built) == 1 and len(list(folder.glob("*.pkl"))) == 1
    warm = load_mod_file(f)
    assert len(built) == 1  # not imported again
    _same(warm, cold)
    assert warm.parameter("g").value == 0.001


def test_changed_file_or_include_is_imported_again(tmp_path, cache):
    folder, built = cache
    f = _write(tmp_path, "leak.mod", LEAK % "0.001")
    load_mod_file(f)
    f.write_text(LEAK % "0.003")
    assert load_mod_file(f).parameter("g").value == 0.003 and len(built) == 2
    inc = _write(tmp_path, "b.inc", "FUNCTION boltz(x (mV)) { boltz = 1/(1 + exp(-(x + 30)/8)) }\n")
    g = _write(tmp_path, "incl.mod", """NEURON { SUFFIX incl NONSPECIFIC_CURRENT i RANGE g }
UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) }
INCLUDE "b.inc"
PARAMETER { g = 0.002 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT { i = g*boltz(v)*(v + 70) }
""")
    a = load_mod_file(g)
    assert load_mod_file(g) == a and len(built) == 3
    inc.write_text("FUNCTION boltz(x (mV)) { boltz = 1/(1 + exp(-(x + 35)/8)) }\n")
    b = load_mod_file(g)
    assert len(built) == 4 and b != a


def test_corrupt_entry_is_ignored_and_rewritten(tmp_path, cache):
    folder, built = cache
    f = _write(tmp_path, "leak.mod", LEAK % "0.001")
    cold = load_mod_file(f)
    (entry,) = folder.glob("*.pkl")
    for junk in (b"not a pickle", pickle.dumps({"format": -1}), b""):
        entry.write_bytes(junk)
        _same(load_mod_file(f), cold)
    assert len(built) == 4
    assert pickle.loads(entry.read_bytes())["mech"] == cold  # rewritten
    assert load_mod_file(f) == cold and len(built) == 4


def test_warnings_are_emitted_again_on_a_hit(tmp_path, cache):
    _folder, built = cache
    f = _write(tmp_path, "lax.mod", LAX)

    seen = []
    for _ in range(2):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            load_mod_file(f)
        seen.append([(x.category, str(x.message), x.filename, x.lineno) for x in w
                     if issubclass(x.category, NmodlUnitWarning)])
    assert len(built) == 1
    assert len(seen[0]) == 1 and seen[0] == seen[1]
    assert seen[1][0][2].endswith("lax.mod") and seen[1][0][3] == 3
    with warnings.catch_warnings():  # the user's filters apply to the replayed warning
        warnings.simplefilter("error", NmodlUnitWarning)
        with pytest.raises(NmodlUnitWarning, match="FOO"):
            load_mod_file(f)


def test_failures_are_not_cached_and_options_apply_on_a_hit(tmp_path, cache):
    folder, built = cache
    f = _write(tmp_path, "leak.mod", (LEAK % "0.001").replace("RANGE g, e }", "RANGE g, e "))
    for _ in range(2):
        with pytest.raises(ModelImportError, match="leak.mod"):
            load_mod_file(f)
    assert not list(folder.glob("*.pkl"))
    v = _write(tmp_path, "verb.mod", """NEURON { SUFFIX verb NONSPECIFIC_CURRENT i }
ASSIGNED { v i }
BREAKPOINT {
VERBATIM
    _li = 0;
ENDVERBATIM
    i = 0
}
""")
    m = load_mod_file(v, check=False)
    assert m.unsupported
    with pytest.raises(UnsupportedError, match="VERBATIM"):
        load_mod_file(v)  # check=True on the cached mechanism
    with pytest.raises(ModelImportError, match="clashes with nmlcell's built-in"):
        load_mod_file(v, check=False, reserved={"verb": tmp_path / "other.mod"})
    assert built.count(str(v)) == 1


@pytest.mark.parametrize("env", [("NMLCELL_NO_CACHE", "1"), ("NMLCELL_CACHE", "off")])
def test_switched_off(tmp_path, cache, monkeypatch, env):
    folder, built = cache
    monkeypatch.setenv(*env)
    f = _write(tmp_path, "leak.mod", LEAK % "0.001")
    a, b = load_mod_file(f), load_mod_file(f)
    assert a == b and len(built) == 2
    assert not folder.exists() or not list(folder.glob("*.pkl"))
    assert mod_cache.cache_folder() is None


def test_library_noise_is_not_stored(tmp_path, cache, monkeypatch):
    """A warning from elsewhere during the import (a library's, not about
    the file) is shown on the import that caused it, not on every hit."""
    _folder, built = cache
    counting = nmodl_build.MechanismBuilder.build

    def noisy(self):
        warnings.warn("a library's own warning", FutureWarning)
        return counting(self)

    monkeypatch.setattr(nmodl_build.MechanismBuilder, "build", noisy)
    f = _write(tmp_path, "leak.mod", LEAK % "0.001")
    shown = []
    for _ in range(2):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            load_mod_file(f)
        shown.append([str(x.message) for x in w if issubclass(x.category, FutureWarning)])
    assert shown == [["a library's own warning"], []] and len(built) == 1


LAX = """NEURON { SUFFIX lax NONSPECIFIC_CURRENT i }
UNITS { (mA) = (milliamp) (mV) = (millivolt) (mM) = (milli/liter)
        FOO = (faraday) (mV)  R = (k-mole) (joule/degC) }
PARAMETER { g = 0.001 }
ASSIGNED { v (mV) i (mA/cm2) x (mV) }
BREAKPOINT {
    x = g
    i = 1e-9*FOO*R*x
}
"""


def test_load_mod_shows_the_files_warnings_on_a_warm_load(tmp_path, cache):
    """nmlcell.load_mod (a file or a folder) goes through this cache: the
    second load imports nothing and shows the file's warning again, with
    its file and line."""
    import nmlcell

    _folder, built = cache
    d = tmp_path / "mods"
    d.mkdir()
    f = _write(d, "lax.mod", LAX)
    _write(d, "leak.mod", LEAK % "0.001")
    seen = []
    for target in (f, f, d, d):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            mechs = nmlcell.load_mod(target)
        assert "lax" in mechs
        seen.append([(str(x.message), x.filename, x.lineno) for x in w if issubclass(x.category, NmodlUnitWarning)])
    assert sorted(built) == sorted([str(f), str(d / "leak.mod")])  # each file imported once
    assert len(seen[0]) == 1 and seen[0] == seen[1] == seen[2] == seen[3]
    assert seen[1][0][1].endswith("lax.mod") and seen[1][0][2] == 3 and "FOO" in seen[1][0][0]


def test_load_mod_hit_keeps_the_files_own_path(tmp_path, cache):
    """A copy of a built-in's file elsewhere is refused even when the
    built-in itself was loaded (and cached) first: an entry is keyed by the
    path as well as the bytes, so the hit's source is the copy's."""
    import nmlcell
    from nmlcell.mechanisms import HERE

    assert "hh" in nmlcell.load_mod(HERE / "hh.mod")
    copy = _write(tmp_path, "hh.mod", (HERE / "hh.mod").read_text())
    for _ in range(2):
        with pytest.raises(ModelImportError, match=r"SUFFIX hh clashes with nmlcell's built-in"):
            nmlcell.load_mod(copy)
