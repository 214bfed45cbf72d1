"""An <OnEvent> inside a <Regime> of a LEMS ComponentType (jLEMS reads it;
pyLEMS fails with "Unable to resolve type 'OnEvent'"): one line naming
file, line and element; ModelImportError; exit code 2 from the CLI."""
import pytest

import nmlcell
from nmlcell.cli import main

from test_bad_input import _CELL, _REGIMES

_ON_EVENT = '                <OnEvent port="in"><StateAssignment variable="v" value="v0"/></OnEvent>\n'


def _model(tmp_path):
    regimes = _REGIMES.replace('<Regime name="refractory">\n', '<Regime name="refractory">\n' + _ON_EVENT)
    regimes = regimes.replace('<Regime name="active">\n', '<Regime name="active">\n                '
                              '<OnCondition test="v .lt. v0"><Transition regime="refractory"/></OnCondition>\n')
    text = _CELL.replace('<TimeDerivative variable="v" value="-w / tau"/>', regimes, 1)
    text = text.replace('<Exposure name="w" dimension="voltage"/>',
                        '<Exposure name="w" dimension="voltage"/>\n        <EventPort name="in" direction="in"/>')
    f = tmp_path / "onevent.xml"
    f.write_text(text)
    line = next(k for k, ln in enumerate(text.splitlines(), 1) if "<OnEvent" in ln)
    return f, line


def test_onevent_in_regime(tmp_path, capsys):
    f, line = _model(tmp_path)
    want = f'onevent.xml:{line}: <OnEvent>: inside <Regime name="refractory"> of ComponentType \'leakyCell\''
    with pytest.raises(nmlcell.ModelImportError) as e:
        nmlcell.load(f)
    assert want in str(e.value) and "not supported" in str(e.value)
    for cmd in ("run", "info"):
        rc = main([cmd, str(f)])
        out = capsys.readouterr()
        assert rc == 2 and out.out == ""
        assert out.err.startswith("nmlcell: error: ") and out.err.count("\n") == 1 and want in out.err
