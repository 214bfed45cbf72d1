"""`nmlcell info` lists each equation with the ComponentType and file:line defining it."""
import re
from pathlib import Path

from nmlcell.cli import main
from nmlcell.importers.coretypes import core_types_dir

Q10 = Path(__file__).parent / "data" / "nml2" / "LEMSexamples" / "LEMS_NML2_Ex10_Q10.xml"


def _info(path, capsys):
    assert main(["info", str(path)]) == 0
    return capsys.readouterr().out.splitlines()


def test_equation_origins_user_and_core_types(capsys):
    lines = _info(Q10, capsys)
    # the user's ComponentType newExpRate (LEMS_NML2_Ex10_Q10.xml:41) defines r at line 46
    src = Q10.read_text().splitlines()
    assert '<DerivedVariable name="r"' in src[46 - 1]
    r = [ln for ln in lines if "kChan/n/reverseRate/r = " in ln]
    assert len(r) == 1 and r[0].rstrip().endswith("[newExpRate LEMS_NML2_Ex10_Q10.xml:46]"), r
    assert "rate*exp(" in r[0]
    # a core type's TimeDerivative: gateHHrates in NeuroML2CoreTypes/Channels.xml
    q = [ln for ln in lines if ln.strip().startswith("d/dt bioPhys1/membraneProperties/kChans/kChan/n/q = ")]
    assert len(q) == 1, lines
    m = re.search(r"= \(inf - q\)/tau   \[gateHHrates Channels\.xml:(\d+)\]$", q[0])
    assert m, q[0]
    core = (core_types_dir() / "Channels.xml").read_text().splitlines()
    assert '<TimeDerivative variable="q"' in core[int(m.group(1)) - 1]
    # OnStart and OnCondition of the cell, and of the input
    assert any(re.search(r"on start: v = initMembPot   \[cell Cells\.xml:\d+\]$", ln) for ln in lines)
    assert any(re.search(r"on .*v > thresh.*: spiking = 1; emit spike   \[cell Cells\.xml:\d+\]$", ln)
               for ln in lines)
    assert any(re.search(r"on t < delay: i = 0   \[pulseGenerator Inputs\.xml:\d+\]$", ln) for ln in lines)
