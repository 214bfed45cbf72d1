"""The C++ tree kernel's background build starts right after the XML
check when the files hold a multi-compartment cell (lems._prebuild_early),
before pylems reads them; a single-compartment model starts nothing."""
from pathlib import Path

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
