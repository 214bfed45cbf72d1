"""Bad input: one-line errors naming file, line and element; exit code 2."""
import subprocess
import sys
from pathlib import Path

import pytest

import nmlcell
from nmlcell.cli import main

HERE = Path(__file__).parent
EX5 = HERE / "data" / "nml2" / "LEMSexamples" / "LEMS_NML2_Ex5_DetCell.xml"
HH_NML = HERE / "data" / "nml2" / "examples" / "NML2_SingleCompHHCell.nml"


def _cli(args, capsys):
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_malformed_xml(tmp_path, capsys):
    f = tmp_path / "bad.xml"
    f.write_text("<Lems>\n  <Include file=\"Cells.xml\"/>\n  <broken attr=\"x>\n</Lems>\n")
    with pytest.raises(nmlcell.ModelImportError) as e:
        nmlcell.load(f)
    assert "bad.xml:3" in str(e.value) or "bad.xml:4" in str(e.value)
    rc, out, err = _cli(["run", str(f)], capsys)
    assert rc == 2 and err.startswith("nmlcell: error:") and err.count("\n") == 1
    assert "Traceback" not in err


def test_missing_include(tmp_path, capsys):
    f = tmp_path / "m.xml"
    f.write_text("<Lems>\n<Include file=\"Cells.xml\"/>\n<Include file=\"nothere.nml\"/>\n</Lems>\n")
    rc, out, err = _cli(["run", str(f)], capsys)
    assert rc == 2 and "m.xml:3" in err and "nothere.nml" in err and "Include" in err


def test_unknown_component_type(tmp_path, capsys):
    src = EX5.read_text().replace('<Include file="../examples/NML2_SingleCompHHCell.nml"/>',
                                  f'<Include file="{HH_NML}"/>')
    src = src.replace("<Simulation", '<fooCell id="x" a="1"/>\n<Simulation')
    f = tmp_path / "u.xml"
    f.write_text(src)
    rc, out, err = _cli(["run", str(f)], capsys)
    assert rc == 2 and "fooCell" in err


def test_wrong_dimension(tmp_path, capsys):
    text = HH_NML.read_text().replace('delay="100ms"', 'delay="100mV"')
    (tmp_path / "NML2_SingleCompHHCell.nml").write_text(text)
    src = EX5.read_text().replace("../examples/NML2_SingleCompHHCell.nml", "NML2_SingleCompHHCell.nml")
    f = tmp_path / "w.xml"
    f.write_text(src)
    rc, out, err = _cli(["run", str(f)], capsys)
    assert rc == 2 and ("100mV" in err or "dimension" in err.lower())


def test_unknown_solver_and_bad_dt(capsys):
    rc, out, err = _cli(["run", str(EX5), "--solver", "rk5"], capsys)
    assert rc == 2 and "did you mean 'rk4'" in err
    rc, out, err = _cli(["run", str(EX5), "--dt", "0"], capsys)
    assert rc == 2 and "--dt" in err
    rc, out, err = _cli(["run", str(EX5), "--dt", "-0.01"], capsys)
    assert rc == 2
    m = nmlcell.load(EX5)
    with pytest.raises(nmlcell.SolverError):
        m.solver = "rk44"
    with pytest.raises(nmlcell.OptionError):
        m.run(dt=-1.0)


def test_output_path_that_names_nothing(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, out, err = _cli(["run", str(EX5), "--out", str(blocker), "--duration", "5"], capsys)
    assert rc == 2 and "--out" in err
    assert blocker.read_text() == "x"


def test_bare_nml_needs_duration_and_dt(tmp_path, capsys):
    rc, out, err = _cli(["run", str(HH_NML)], capsys)
    assert rc == 2 and "--duration" in err
    rc, out, err = _cli(["run", str(HH_NML), "--duration", "20", "--dt", "0.025", "--quiet"], capsys)
    assert rc == 0 and out == ""


def test_divergence_is_reported(capsys):
    m = nmlcell.load(EX5)
    with pytest.raises(nmlcell.SimulationError) as e:
        m.run(dt=0.5, duration=200.0, solver="euler", progress=False)
    msg = str(e.value)
    assert "diverged" in msg and "ms" in msg and "backward_euler" in msg


def test_no_half_written_output_on_failure(tmp_path):
    m = nmlcell.load(EX5)
    with pytest.raises(nmlcell.SimulationError):
        m.run(dt=0.5, duration=200.0, solver="euler", progress=False)
    assert not any(tmp_path.rglob("*"))


def test_cli_subprocess_exit_code(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nmlcell.cli", "run", str(tmp_path / "none.xml")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "file not found" in r.stderr and "Traceback" not in r.stderr
