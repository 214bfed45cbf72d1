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


def test_duplicate_top_level_id(tmp_path, capsys):
    """A document defining one id twice (jNeuroML: "Duplicate id") is
    refused with the second definition's line, not read with one of the
    two kept silently."""
    nml = HH_NML.read_text()
    first = nml.index('<ionChannelHH id="kChan"')
    nml = nml.replace('<cell id="hhcell">', '<ionChannelHH id="kChan" conductance="20pS" species="k"/>\n'
                      '    <cell id="hhcell">', 1)
    (tmp_path / "NML2_SingleCompHHCell.nml").write_text(nml)
    f = tmp_path / "dup.xml"
    f.write_text(EX5.read_text().replace('<Include file="../examples/NML2_SingleCompHHCell.nml"/>',
                                         '<Include file="NML2_SingleCompHHCell.nml"/>'))
    rc, out, err = _cli(["run", str(f)], capsys)
    line = nml.count("\n", 0, nml.index('<ionChannelHH id="kChan" conductance="20pS"')) + 1
    assert rc == 2 and err.count("\n") == 1, err
    assert f"NML2_SingleCompHHCell.nml:{line}" in err and "duplicate id 'kChan'" in err
    assert f"first at line {nml.count(chr(10), 0, first) + 1}" in err


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


# -- ComponentTypes that refer to nothing, loop, mix dimensions or strand a Regime --------------

_CELL = """<Lems>
    <Target component="sim1"/>
    <Include file="Cells.xml"/>
    <Include file="Networks.xml"/>
    <Include file="Simulation.xml"/>

    <ComponentType name="leakyCell" extends="baseCellMembPot">
        <Parameter name="tau" dimension="time"/>
        <Parameter name="v0" dimension="voltage"/>
        <Parameter name="gl" dimension="conductance"/>
        <Exposure name="w" dimension="voltage"/>
        <Dynamics>
            <StateVariable name="v" dimension="voltage" exposure="v"/>
            <DerivedVariable name="w" dimension="voltage" exposure="w" value="v - v0"/>
            <TimeDerivative variable="v" value="-w / tau"/>
            <OnStart>
                <StateAssignment variable="v" value="v0"/>
            </OnStart>
        </Dynamics>
    </ComponentType>

    <leakyCell id="c1" tau="10ms" v0="-60mV" gl="1nS"/>
    <network id="net1">
        <population id="pop" component="c1" size="1"/>
    </network>
    <Simulation id="sim1" length="10ms" step="0.1ms" target="net1">
        <OutputFile id="of" fileName="out.dat">
            <OutputColumn id="v" quantity="pop[0]/v"/>
        </OutputFile>
    </Simulation>
</Lems>
"""

_REGIMES = """
            <Regime name="rest" initial="true">
                <TimeDerivative variable="v" value="-w / tau"/>
            </Regime>
            <Regime name="refractory">
                <TimeDerivative variable="v" value="0 * w / tau"/>
            </Regime>
            <Regime name="active">
                <OnCondition test="v .gt. v0">
                    <Transition regime="rest"/>
                </OnCondition>
            </Regime>"""

# (name, replaced text, replacement, marker of the offending line, element, error class, words)
_BROKEN_TYPES = [
    ("exposure_of_nothing", '<Exposure name="w" dimension="voltage"/>',
     '<Exposure name="w" dimension="voltage"/>\n        <Exposure name="ghost" dimension="voltage"/>',
     'name="ghost"', '<Exposure name="ghost">', "ModelImportError", "exposes 'ghost'"),
    ("undefined_symbol", 'value="v - v0"', 'value="v - vrest"',
     'value="v - vrest"', '<DerivedVariable name="w">', "ModelImportError", "'vrest'"),
    ("select_of_no_child", '<TimeDerivative variable="v"',
     '<DerivedVariable name="isyn" dimension="current" select="synapses[*]/i" reduce="add"/>\n'
     '            <TimeDerivative variable="v"',
     'select="synapses', '<DerivedVariable name="isyn">', "ModelImportError", "'synapses'"),
    ("select_step_of_no_child", '<TimeDerivative variable="v"',
     '<DerivedVariable name="x" dimension="none" select="annotation/nothing/x"/>\n'
     '            <TimeDerivative variable="v"',
     'select="annotation', '<DerivedVariable name="x">', "ModelImportError", "'nothing'"),
    ("derived_cycle", '<TimeDerivative variable="v"',
     '<DerivedVariable name="a" dimension="voltage" value="b + w"/>\n'
     '            <DerivedVariable name="b" dimension="voltage" value="a"/>\n'
     '            <TimeDerivative variable="v"',
     'name="a"', '<DerivedVariable name="a">', "ModelImportError", "cycle"),
    ("derivative_of_a_current", 'value="-w / tau"', 'value="gl * w"',
     'value="gl * w"', '<TimeDerivative variable="v">', "UnitError", "current"),
    ("voltage_plus_time", 'value="v - v0"', 'value="v + tau"',
     'value="v + tau"', '<DerivedVariable name="w">', "UnitError", "voltage and time"),
    ("declared_dimension_differs", '<TimeDerivative variable="v"',
     '<DerivedVariable name="iw" dimension="voltage" value="gl * w"/>\n'
     '            <TimeDerivative variable="v"',
     'name="iw"', '<DerivedVariable name="iw">', "UnitError", "is declared voltage but its value is current"),
    ("regime_without_way_in", '<TimeDerivative variable="v" value="-w / tau"/>', _REGIMES,
     'name="refractory"', '<Regime name="refractory">', "ModelImportError", "no way in"),
]


@pytest.mark.parametrize("case", _BROKEN_TYPES, ids=[c[0] for c in _BROKEN_TYPES])
def test_broken_component_type(tmp_path, capsys, case):
    name, old, new, marker, element, exc, words = case
    assert old in _CELL
    text = _CELL.replace(old, new, 1)
    f = tmp_path / f"{name}.xml"
    f.write_text(text)
    line = next(k for k, ln in enumerate(text.splitlines(), 1) if marker in ln)
    with pytest.raises(getattr(nmlcell, exc)) as e:
        nmlcell.load(f)
    msg = str(e.value)
    assert f"{name}.xml:{line}: {element}" in msg and words in msg and "leakyCell" in msg, msg
    for cmd in ("run", "info"):
        rc, out, err = _cli([cmd, str(f)], capsys)
        assert rc == 2 and out == "", (cmd, rc, out)
        assert err.startswith("nmlcell: error: ") and err.count("\n") == 1 and "Traceback" not in err
        assert f"{name}.xml:{line}: {element}" in err
    assert [p.name for p in tmp_path.iterdir()] == [f.name]  # nothing written


def test_sound_component_type_loads(tmp_path, capsys):
    """Literals, functions, H(), powers, boolean tests and Regimes that all
    have a way in pass the check."""
    regimes = _REGIMES.replace(
        '<Regime name="rest" initial="true">\n                <TimeDerivative variable="v" value="-w / tau"/>',
        '<Regime name="rest" initial="true">\n                <TimeDerivative variable="v" value="-w / tau"/>\n'
        '                <OnCondition test="v .lt. v0 - 5"><Transition regime="refractory"/></OnCondition>\n'
        '                <OnCondition test="v .gt. 0 .and. t .gt. tau"><Transition regime="active"/></OnCondition>')
    extra = ('<DerivedVariable name="f" dimension="none" value="H(v - v0) * exp(-(w/v0)^2) + (t/tau)^2 '
             '+ abs(log(2))"/>\n            ')
    f = tmp_path / "ok.xml"
    f.write_text(_CELL.replace('<TimeDerivative variable="v" value="-w / tau"/>', extra + regimes))
    rc, out, err = _cli(["info", str(f)], capsys)
    assert rc == 0, err


def test_broken_element_inherited_from_a_base_type(tmp_path, capsys):
    """The error points into the base type that holds the element."""
    base = ('<ComponentType name="leakyBase" extends="baseCellMembPot">\n'
            '        <Exposure name="ghost" dimension="voltage"/>\n'
            '    </ComponentType>\n\n    ')
    text = _CELL.replace('<ComponentType name="leakyCell" extends="baseCellMembPot">',
                         base + '<ComponentType name="leakyCell" extends="leakyBase">')
    f = tmp_path / "inherited.xml"
    f.write_text(text)
    line = next(k for k, ln in enumerate(text.splitlines(), 1) if 'name="ghost"' in ln)
    rc, out, err = _cli(["info", str(f)], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert f"inherited.xml:{line}: <Exposure name=\"ghost\">" in err
    assert "ComponentType 'leakyBase' (extended by 'leakyCell')" in err
