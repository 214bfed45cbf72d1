"""`nmlcell solvers`: every registered solver, with the column saying which
ones advance a branched cable."""
from __future__ import annotations

from nmlcell.cli import main
from nmlcell.quad.registry import all_integrators, cable_solvers


def test_solvers_lists_every_solver_and_the_cable_ones(capsys):
    assert main(["solvers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["name", "aliases", "family", "order", "cables"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert set(rows) == {it.name for it in all_integrators()}
    cable = set(cable_solvers())
    assert {"staggered", "crank_nicolson", "backward_euler"} <= cable
    for name, cols in rows.items():
        assert cols[4] == ("yes" if name in cable else "-"), name
