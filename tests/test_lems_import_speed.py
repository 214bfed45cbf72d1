"""What import_lems does for speed: the C++ tree kernel's background build
starts right after the XML check when the files hold a multi-compartment
cell (lems._prebuild_early), before pylems reads them, and a
single-compartment model starts nothing; the cyclic garbage collector is
paused during the import and restored after (lems._gc_paused)."""
import gc
from pathlib import Path

import pytest

from nmlcell.importers import lems, nml_cell
from nmlcell.importers.coretypes import core_types_dir
from nmlcell.importers.xmlcheck import SourceIndex, check_tree

ROOT = Path(__file__).resolve().parents[1]


def _calls(path, monkeypatch):
    calls = []
    monkeypatch.setattr(nml_cell, "prebuild_tree_kernel", lambda: calls.append(path.name))
    index = SourceIndex()
    check_tree(path, [path.parent], index, core_types_dir())
    lems._prebuild_early(index)
    return calls


def test_multicompartment_cell_starts_the_build(monkeypatch):
    assert _calls(ROOT / "tests" / "data" / "nml_mc" / "LEMS_hh_two_sec.xml", monkeypatch) == ["LEMS_hh_two_sec.xml"]


def test_single_compartment_starts_nothing(monkeypatch):
    assert _calls(ROOT / "data" / "examples" / "hh" / "LEMS_HH.xml", monkeypatch) == []


def test_import_lems_calls_it_before_pylems(monkeypatch, tmp_path):
    """import_lems calls _prebuild_early before reading with pylems."""
    order = []
    monkeypatch.setenv("NMLCELL_CACHE", "off")
    monkeypatch.setattr(lems, "_prebuild_early", lambda index: order.append("prebuild"))

    def stop(self):
        order.append("pylems")
        raise RuntimeError("stop here")
    monkeypatch.setattr(lems._Reader, "load", stop)
    try:
        lems.import_lems(ROOT / "tests" / "data" / "nml_mc" / "LEMS_hh_two_sec.xml")
    except RuntimeError:
        pass
    assert order == ["prebuild", "pylems"]


def test_gc_paused_during_import_and_restored(monkeypatch):
    seen = []
    monkeypatch.setenv("NMLCELL_CACHE", "off")

    def probe(rd, path, duration, dt):
        seen.append(gc.isenabled())
        raise RuntimeError("stop here")
    monkeypatch.setattr(lems, "_import_lems", probe)
    path = ROOT / "data" / "examples" / "hh" / "LEMS_HH.xml"
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        lems.import_lems(path)
    assert seen == [False] and gc.isenabled()   # back on, also after an error
    gc.disable()
    try:   # a caller that had it off keeps it off
        with pytest.raises(RuntimeError):
            lems.import_lems(path)
        assert not gc.isenabled()
    finally:
        gc.enable()
