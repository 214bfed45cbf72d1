"""Bad .mod input (issue 4): a syntax error, a missing INCLUDE, an undefined
variable, a unit NEURON rejects, a mechanism name that clashes with a
built-in. Each is one line naming file:line (file:line:column for syntax),
an exception class of nmlcell's own from Python, exit code 2 and no
traceback from ``nmlcell info``. What NEURON accepts is accepted (the
corpus test in test_nmodl_import.py imports every corpus file, which would
fail on any of these errors).
"""
from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from nmlcell.cli import main
from nmlcell.errors import ModelImportError, NmlcellError, UnitError
from nmlcell.importers.nmodl import check_name_clashes, load_mod_file, load_mod_folder
from nmlcell.importers.nmodl_check import NmodlUnitWarning

MECHS = Path(__file__).resolve().parents[1] / "nmlcell" / "mechanisms"
BUILTIN = {"hh": MECHS / "hh.mod", "pas": MECHS / "passive.mod", "IClamp": MECHS / "stim.mod"}

HEAD = """NEURON { SUFFIX bad NONSPECIFIC_CURRENT i RANGE g }
UNITS { (mA) = (milliamp) (mV) = (millivolt) }
PARAMETER { g = 0.001 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) }
"""


def _write(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    return f


def _cli_error(f, capsys) -> str:
    """``nmlcell info f``: exit code 2, one line on stderr, no traceback."""
    assert main(["info", str(f)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().split("\n")
    assert len(lines) == 1, err
    return lines[0]


def _error(f, cls=ModelImportError) -> str:
    with pytest.raises(cls) as ei:
        load_mod_file(f)
    assert isinstance(ei.value, NmlcellError)
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


# -- syntax and INCLUDE ---------------------------------------------------------------------------

def test_syntax_error_names_file_line_column_and_token(tmp_path, capsys):
    f = _write(tmp_path, "syn.mod", HEAD + "BREAKPOINT {\n    i = g*(v - 10))\n}\n")
    msg = _error(f)
    assert re.search(r"syn\.mod:6:\d+: NMODL syntax error at '\)", msg), msg
    assert "syn.mod:6:" in _cli_error(f, capsys)


def test_missing_include(tmp_path, capsys):
    f = _write(tmp_path, "inc.mod", HEAD + 'INCLUDE "gone.inc"\nBREAKPOINT { i = g*v }\n')
    msg = _error(f)
    assert re.search(r"inc\.mod:5: INCLUDE \"gone\.inc\" not found beside the \.mod file", msg), msg
    assert "inc.mod:5:" in _cli_error(f, capsys)


# -- undefined variables --------------------------------------------------------------------------

def test_undefined_variable_in_breakpoint(tmp_path, capsys):
    f = _write(tmp_path, "undef.mod", HEAD + "BREAKPOINT {\n    i = g*(v - erev)\n}\n")
    msg = _error(f)
    assert re.search(r"undef\.mod:6: undefined variable 'erev' in BREAKPOINT", msg), msg
    assert "undef.mod:6: undefined variable 'erev'" in _cli_error(f, capsys)


def test_undefined_variables_all_named_even_in_an_uncalled_function(tmp_path):
    """NEURON compiles every FUNCTION, called or not."""
    f = _write(tmp_path, "undef2.mod", HEAD + "BREAKPOINT {\n    i = g*v\n    zz = 1\n}\n"
               "FUNCTION never(x) {\n    never = x*qq\n}\n")
    msg = _error(f)
    assert re.search(r"undef2\.mod:7: undefined variable 'zz' in BREAKPOINT.*also 'qq' \(undef2\.mod:10\)", msg), msg


def test_ion_variable_not_in_assigned(tmp_path):
    f = _write(tmp_path, "ion.mod", """NEURON { SUFFIX ion USEION na READ ena WRITE ina }
PARAMETER { g = 0.001 (S/cm2) }
ASSIGNED { v (mV) ina (mA/cm2) }
BREAKPOINT { ina = g*(v - ena) }
""")
    msg = _error(f)
    assert re.search(r"ion\.mod:4: undefined variable 'ena' in BREAKPOINT: named in the NEURON block but not "
                     r"declared in ASSIGNED", msg), msg


def test_what_neuron_provides_needs_no_declaration(tmp_path):
    """v, t, dt, celsius, area, diam compile in NEURON without a declaration
    (measured with nrnivmodl); locals, arguments, FUNCTION names, UNITS
    factors and DEFINEs are declarations."""
    f = _write(tmp_path, "ok.mod", """NEURON { SUFFIX ok NONSPECIFIC_CURRENT i }
DEFINE N 3
UNITS { (mA) = (milliamp) (mV) = (millivolt) F = (faraday) (coulomb) }
ASSIGNED { i (mA/cm2) }
LOCAL cache
BREAKPOINT { LOCAL k
    cache = v
    k = f(v) + t + dt + celsius + area + diam + N + F*0 + cache
    i = 1e-9*k
}
FUNCTION f(x) { LOCAL y
    y = x
    f = y
}
""")
    m = load_mod_file(f)
    assert m.name == "ok"


def test_verbatim_file_not_checked_for_undefined(tmp_path):
    """VERBATIM C code may declare what the NMODL code uses; the file is
    rejected for its VERBATIM (listed), not for the name."""
    from nmlcell.errors import UnsupportedError

    f = _write(tmp_path, "verb.mod", HEAD + "VERBATIM\nstatic double erev = 10;\nENDVERBATIM\n"
               "BREAKPOINT { i = g*(v - erev) }\n")
    with pytest.raises(UnsupportedError, match=r"VERBATIM"):
        load_mod_file(f)



def test_neuron_block_variables_are_declarations(tmp_path):
    """RANDOM (and POINTER, EXTERNAL) variables named in the NEURON block are
    not undefined: the file is refused for them by the compatibility pass."""
    from nmlcell.errors import UnsupportedError

    f = _write(tmp_path, "rv.mod", """NEURON { POINT_PROCESS rvx RANDOM rv POINTER p NONSPECIFIC_CURRENT i }
ASSIGNED { v (mV) i (nA) p }
BREAKPOINT { i = random_normal(rv)*p }
""")
    with pytest.raises(UnsupportedError, match=r"RANDOM.*POINTER|POINTER.*RANDOM"):
        load_mod_file(f)


def test_compartment_index_and_from_index_are_declarations(tmp_path):
    """``COMPARTMENT i, vol[i] {...}`` and ``FROM i = ...`` declare ``i``
    (NEURON's cadif.mod, fh.mod): the file imports, the arrays as one
    scalar per element."""
    f = _write(tmp_path, "comp.mod", """NEURON { SUFFIX comp USEION ca READ ica WRITE cai }
DEFINE N 2
ASSIGNED { ica (mA/cm2) cai (mM) vol[N] }
STATE { ca[N] (mM) }
INITIAL { FROM k = 0 TO N-1 { vol[k] = 1 } }
BREAKPOINT { SOLVE state METHOD sparse }
KINETIC state {
    COMPARTMENT i, vol[i] {ca}
    ~ ca[0] << (-ica)
    ~ ca[0] <-> ca[1] (1, 1)
    cai = ca[0]
}
""")
    m = load_mod_file(f)
    assert {"ca_0", "ca_1", "vol_0", "vol_1", "cai"} <= set(m.state_names)

# -- units ----------------------------------------------------------------------------------------

def test_unknown_unit_in_units_block(tmp_path, capsys):
    """nocmodl stops on a UNITS-block unit NEURON's database lacks
    ("Cannot recognize the units: foobar")."""
    f = _write(tmp_path, "unit.mod", """NEURON { SUFFIX unit NONSPECIFIC_CURRENT i }
UNITS { (mA) = (milliamp)
        (zz) = (foobar) }
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT { i = 0 }
""")
    msg = _error(f, UnitError)
    assert re.search(r"unit\.mod:3: unit 'foobar' in the UNITS block is not in NEURON's unit database", msg), msg
    assert "unit.mod:3:" in _cli_error(f, capsys)


def test_units_nocmodl_accepts_are_accepted(tmp_path):
    """Units only modlunit checks: an unknown unit in a declaration, an
    assignment with different dimensions on its two sides (accepted
    silently, as nocmodl does), a factor between units of different
    dimensions (accepted with a warning; value: the ratio of magnitudes, as
    nocmodl computes it); prefixes alone and a mole as a number are
    NEURON's own."""
    f = _write(tmp_path, "lax.mod", """NEURON { SUFFIX lax NONSPECIFIC_CURRENT i }
UNITS { (mA) = (milliamp) (mV) = (millivolt) (mM) = (milli/liter)
        FOO = (faraday) (mV)  R = (k-mole) (joule/degC) }
PARAMETER { g = 0.001 (foobar) }
ASSIGNED { v (mV) i (mA/cm2) x (mV) }
BREAKPOINT {
    x = g
    i = 1e-9*FOO*R*x
}
""")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = load_mod_file(f)
    units = [x for x in w if issubclass(x.category, NmodlUnitWarning)]
    assert len(units) == 1 and "FOO = (faraday) (mV)" in str(units[0].message)
    assert units[0].filename.endswith("lax.mod") and units[0].lineno == 3
    assert m.parameter("g").unit == "foobar"


# -- names of the built-in library --------------------------------------------------------------

def test_name_clash_with_builtin(tmp_path):
    d = tmp_path / "mods"
    d.mkdir()
    (d / "mypas.mod").write_text((MECHS / "passive.mod").read_text())
    with pytest.raises(ModelImportError) as ei:
        load_mod_folder(d, reserved=BUILTIN)
    msg = str(ei.value)
    assert "\n" not in msg
    assert re.search(r"mypas\.mod:\d+: SUFFIX pas clashes with nmlcell's built-in mechanism pas \(.*passive\.mod\)",
                     msg), msg
    pp = _write(tmp_path, "clamp.mod", (MECHS / "stim.mod").read_text())
    with pytest.raises(ModelImportError, match=r"clamp\.mod:\d+: POINT_PROCESS IClamp clashes"):
        load_mod_file(pp, reserved=BUILTIN)


def test_builtin_files_themselves_do_not_clash():
    mechs = load_mod_folder(MECHS, check=False, reserved=BUILTIN)
    check_name_clashes(mechs, BUILTIN)
    assert {"hh", "pas", "IClamp"} <= set(mechs)


def test_load_mod_rejects_builtin_name(tmp_path):
    import nmlcell

    f = _write(tmp_path, "hh.mod", (MECHS / "hh.mod").read_text())
    with pytest.raises(ModelImportError, match=r"SUFFIX hh clashes with nmlcell's built-in"):
        nmlcell.load_mod(f)


# -- the command line, end to end ----------------------------------------------------------------

def test_cli_exit_code_and_one_line(tmp_path):
    f = _write(tmp_path, "undef.mod", HEAD + "BREAKPOINT {\n    i = g*(v - erev)\n}\n")
    r = subprocess.run([sys.executable, "-m", "nmlcell.cli", "info", str(f)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert re.search(r"undef\.mod:6: undefined variable 'erev'", r.stderr), r.stderr


def test_nonspecific_current_assigned_only_in_a_solved_block_is_refused_with_its_line(capsys):
    """jNeuroML's NEURON export writes synapses whose NONSPECIFIC_CURRENT is
    assigned only in a PROCEDURE the DERIVATIVE block calls (NEURON then
    uses the value of the previous state phase). Not lowered: a one-line
    refusal naming the file and line, never an internal error."""
    f = Path(__file__).resolve().parent / "data" / "mod" / "regress" / "current_in_derivative" / "syncur.mod"
    with pytest.raises(NmlcellError) as err:
        load_mod_file(f)
    msg = str(err.value)
    assert "'i' (a NONSPECIFIC_CURRENT) assigned in DERIVATIVE states" in msg and "syncur.mod:34" in msg
    assert main(["run", str(f)]) == 2
    assert "internal error" not in capsys.readouterr().err
