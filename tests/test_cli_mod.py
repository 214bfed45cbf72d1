"""``nmlcell info file.mod``: parameters with units, states, ions, SOLVE
method and unsupported constructs; bad .mod files exit with code 2."""
from pathlib import Path

from nmlcell.cli import main

MECHS = Path(__file__).resolve().parents[1] / "nmlcell" / "mechanisms"


def test_info_hh(capsys):
    assert main(["info", str(MECHS / "hh.mod")]) == 0
    out = capsys.readouterr().out
    assert "density hh" in out
    assert "gnabar = 0.12 S/cm2" in out and "el = -54.3 mV" in out
    assert "states (3): m, h, n" in out
    assert "ion na: reads ena; writes ina" in out and "ion k: reads ek; writes ik" in out
    assert "SOLVE: states METHOD cnexp" in out
    assert "not supported yet: nothing" in out


def test_info_lists_unsupported_with_lines(capsys):
    assert main(["info", str(MECHS / "netstim.mod")]) == 0
    out = capsys.readouterr().out
    assert "NetStim" in out
    assert "RANDOM" in out and "VERBATIM" in out and "netstim.mod:" in out


def test_info_bad_mod_file(tmp_path, capsys):
    f = tmp_path / "bad.mod"
    f.write_text("NEURON { SUFFIX x }\nPARAMETER { a = }\n")
    assert main(["info", str(f)]) == 2
    err = capsys.readouterr().err
    assert "bad.mod:2" in err and "Traceback" not in err
    assert main(["info", str(tmp_path / "missing.mod")]) == 2


def test_info_names_function_tables_that_need_data(capsys):
    f = Path(__file__).resolve().parent / "data" / "mod" / "regress" / "function_table" / "ftab.mod"
    assert main(["info", str(f)]) == 0
    out = capsys.readouterr().out
    assert "FUNCTION_TABLE tau (1 argument, ftab.mod:20): needs data at run time" in out
    assert "FUNCTION_TABLE scale (2 arguments, ftab.mod:21)" in out
