"""Branched NEURON-style cells (morphology + .mod mechanisms) against NEURON
and against the cable equation's analytic solution."""
import math
from pathlib import Path

import numpy as np
import pytest

import nmlcell
from grad_check import grad_and_fd
from nrn_cells import HH_SOMA_AXON_PAS, ICLAMP_RECORD_RUN, IMPORT3D_HEAD, run_script

HERE = Path(__file__).parent
SOMA3 = HERE / "data" / "morph" / "soma3.swc"
CORPUS = HERE.resolve().parents[1] / "shared" / "corpus"
HAY_ASC = CORPUS / "modeldb-139653-hay2011" / "morphologies" / "cell1.asc"

_NEURON = IMPORT3D_HEAD + HH_SOMA_AXON_PAS + ICLAMP_RECORD_RUN


def _neuron(morph, rec, amp, T, nseg):
    cfg = dict(morph=str(morph), rec=rec, amp=amp, T=T, nseg=nseg)
    return run_script(_NEURON, cfg, "r.npy", np.load)


def _nmlcell(morph, rec, amp, T, nseg):
    cell = nmlcell.Cell(morph, nseg=nseg, cm=1.0, Ra=100.0)
    regions = {s.region for s in cell.morphology.sections}
    cell.insert("hh", where=[r for r in ("soma", "axon") if r in regions])
    cell.insert("pas", where=[r for r in regions if r not in ("soma", "axon")], g=1e-4, e=-65.0)
    cell.add(nmlcell.IClamp(delay=2.0, dur=20.0, amp=amp), at=f"{cell.morphology.sections[0].name}(0.5)")
    names = [f"{n}({x}).v" for n, x in rec]
    res = cell.run(duration=T, dt=0.025, celsius=6.3, record=names)
    return np.array([res[q] for q in names]), res


@pytest.mark.parametrize("amp", [0.1, 0.5])
def test_branched_hh_cell_matches_neuron(amp):
    rec = [["soma[0]", 0.5], ["dend[0]", 0.5], ["dend[1]", 0.9], ["axon[0]", 0.9]]
    ref = _neuron(SOMA3, rec, amp, 30.0, 3)
    ours, res = _nmlcell(SOMA3, rec, amp, 30.0, 3)
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) < 1e-8
    if amp == 0.5:
        assert ours[0].max() > 20.0  # it fires


def test_hay_morphology_matches_neuron():
    """Hay's cell1.asc (195 sections, soma contour, zero-area branch nodes)."""
    if not HAY_ASC.is_file():
        pytest.skip(f"model corpus not found at {CORPUS}")
    rec = [["soma[0]", 0.5], ["dend[10]", 0.5], ["apic[30]", 0.5], ["axon[0]", 0.9]]
    ref = _neuron(HAY_ASC, rec, 0.3, 30.0, 3)
    ours, _ = _nmlcell(HAY_ASC, rec, 0.3, 30.0, 3)
    assert np.max(np.abs(ours - ref)) < 1e-8


def _cylinder(tmp_path, L=1000.0, diam=2.0, n=101):
    f = tmp_path / "cyl.swc"
    lines = [f"{k + 1} 3 {L * k / (n - 1):.6f} 0 0 {diam / 2} {k if k else -1}" for k in range(n)]
    f.write_text("\n".join(lines) + "\n")
    return f


def test_passive_cable_against_the_analytic_solution(tmp_path):
    """A sealed-end cylinder (L 1000 um, d 2 um, Rm 1e4 ohm cm2, Ra 100
    ohm cm): steady state under a constant current at x = 0 follows
    V(x) = I R_inf cosh((L-x)/lambda) / sinh(L/lambda)."""
    L, d, g, Ra, I = 1000.0, 2.0, 1e-4, 100.0, 0.01
    nseg = 401
    cell = nmlcell.Cell(_cylinder(tmp_path, L, d), nseg=nseg, cm=1.0, Ra=Ra, v_init=-65.0)
    cell.insert("pas", g=g, e=-65.0)
    cell.add(nmlcell.IClamp(delay=0.0, dur=1e9, amp=I), at="dend[0](0.001)")
    xs = [0.001, 0.25, 0.5, 1.0]
    names = [f"dend[0]({x}).v" for x in xs]
    res = cell.run(duration=300.0, dt=0.1, record=names)
    lam = math.sqrt((d * 1e-4 / 4) * (1 / g) / Ra) * 1e4                      # um
    r_inf = 4 * Ra / (math.pi * (d * 1e-4) ** 2) * lam * 1e-4 * 1e-6          # MOhm
    for x, q in zip(xs, names):
        seg = min(int(x * nseg), nseg - 1)
        xc = (seg + 0.5) / nseg * L
        want = I * r_inf * math.cosh((L - xc) / lam) / math.sinh(L / lam)      # mV
        got = res[q][-1] + 65.0
        assert abs(got - want) / want < 2e-3, (x, got, want)


def test_branched_cell_errors():
    cell = nmlcell.Cell(SOMA3)
    with pytest.raises(nmlcell.OptionError, match="where"):
        cell.insert("pas", where="tuft")
    cell.insert("hh")
    with pytest.raises(nmlcell.OptionError, match="location"):
        cell.add(nmlcell.IClamp(amp=0.1), at="dend[9](0.5)")
        cell.run(duration=1.0)
    cell2 = nmlcell.Cell(SOMA3)
    cell2.insert("hh")
    cell2.solver = "rk4"
    with pytest.raises(nmlcell.SolverError, match="staggered"):
        cell2.run(duration=1.0)


@pytest.mark.parametrize("solver", ["staggered", "crank_nicolson"])
def test_gradient_through_a_branched_cell(solver):
    """jax.grad through the tree solve (a passive cell; crank_nicolson's
    doubled step too) equals a central finite difference."""
    cell = nmlcell.Cell(SOMA3, nseg=1)
    cell.insert("pas", g=1e-4, e=-65.0)
    cell.add(nmlcell.IClamp(delay=0.0, dur=10.0, amp=0.05), at="soma[0](0.5)")
    cell.solver = solver
    sim = cell.simulator(duration=5.0, dt=0.05, record=["dend[0](0.5).v"])
    grad, fd = grad_and_fd(sim, cell.parameters(), "g_pas", "dend[0](0.5).v")
    assert grad != 0.0 and abs(grad - fd) < 1e-4 * abs(fd)


def test_load_morphology_gives_a_passive_cell(capsys):
    """nmlcell.load("cell.swc"): NEURON's defaults (pas 0.001 S/cm2 at -70 mV):
    at rest it stays at -70 mV; a step depolarises it; `nmlcell info` describes it."""
    from nmlcell.cli import main

    cell = nmlcell.load(SOMA3)
    assert isinstance(cell, nmlcell.Cell)
    rest = cell.run(duration=5.0, dt=0.025)
    assert np.allclose(rest[rest.quantities[0]], -70.0, atol=1e-9)
    cell.add(nmlcell.IClamp(delay=1.0, dur=20.0, amp=0.05))
    v = cell.run(duration=20.0, dt=0.025, record=["soma[0](0.5).v"])["soma[0](0.5).v"]
    assert v[-1] > -70.0 + 1.0
    assert main(["info", str(SOMA3)]) == 0
    out = capsys.readouterr().out
    assert "4 sections" in out and "membrane area" in out
