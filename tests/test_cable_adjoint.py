"""The reverse pass of NEURON's first-order cable step
(nmlcell/lower/cable_adjoint.py) against JAX differentiating the
checkpointed step itself, and its memory in the number of steps."""
from pathlib import Path

import numpy as np
import pytest

import nmlcell

jax = pytest.importorskip("jax")

from nmlcell.lower import cable, cable_adjoint  # noqa: E402

SOMA3 = Path(__file__).parent / "data" / "morph" / "soma3.swc"
pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu" or not cable.ffi_available(),
                                reason="the reverse pass is the C++ cable kernel's, a CPU kernel (not built here, or JAX computes on a GPU)")


def _cell(nseg=3):
    """hh in the soma and the axon, pas in the dendrites, a current
    step at the soma: groups of 1, several and many nodes, as in bench E."""
    cell = nmlcell.Cell(SOMA3, nseg=nseg)
    cell.insert("hh", where=["soma", "axon"])
    cell.insert("pas", where="dend", g=1e-4, e=-65.0)
    cell.add(nmlcell.IClamp(delay=1.0, dur=20.0, amp=0.3), at="soma[0](0.5)")
    return cell


def _loss(cell, duration):
    sim = cell.simulator(duration=duration, dt=0.025, record=["soma[0](0.5).v"])
    p = cell.parameters()
    keys = [(g, k) for g, d in p.items() if g != "__global__" for k in d
            if k in ("gnabar_hh", "gkbar_hh", "gl_hh", "g_pas")]

    def loss(gs):
        q = {g: dict(d) for g, d in p.items()}
        for (g, k), x in zip(keys, gs):
            q[g][k] = x
        return (sim(q)["soma[0](0.5).v"] ** 2).mean()

    return loss, [p[g][k] for g, k in keys]


def test_gradient_equals_the_checkpointed_steps(monkeypatch):
    cell = _cell()
    loss, gs = _loss(cell, 15.0)
    used = []
    applies = cable_adjoint.applies
    monkeypatch.setattr(cable_adjoint, "applies", lambda *a: used.append(applies(*a)) or used[-1])
    v1, g1 = jax.jit(jax.value_and_grad(loss))(gs)
    assert used and all(used)
    monkeypatch.setattr(cable_adjoint, "applies", lambda *a: False)
    loss0, _ = _loss(cell, 15.0)
    v0, g0 = jax.jit(jax.value_and_grad(loss0))(gs)
    # the forward run is the same; the value returned with the gradient may
    # differ by round-off (XLA fuses the step around the reverse pass's
    # residuals differently): measured 6e-15 relative here
    assert float(jax.jit(loss)(gs)) == float(jax.jit(loss0)(gs))
    assert abs(float(v1) - float(v0)) < 1e-12 * abs(float(v0))
    assert len(g1) == 7  # gnabar, gkbar, gl of hh in two groups; g of pas
    for a, b in zip(g1, g0):
        a, b = np.asarray(a), np.asarray(b)
        assert np.all(b != 0.0)
        # measured 6e-15 on bench E's cell
        assert np.max(np.abs(a - b) / np.abs(b)) < 1e-10
    # and against a central difference (the soma's gnabar; the cell spikes)
    k = next(i for i, x in enumerate(g1) if x.shape == (1,))
    eps = 1e-7
    lj = jax.jit(loss)
    up = [x if i != k else x + eps for i, x in enumerate(gs)]
    dn = [x if i != k else x - eps for i, x in enumerate(gs)]
    fd = (float(lj(up)) - float(lj(dn))) / (2 * eps)
    assert abs(float(g1[k][0]) - fd) < 1e-5 * abs(fd)


@pytest.mark.slow
def test_reverse_pass_memory_is_not_a_state_per_step():
    cell = _cell(nseg=25)
    temp = []
    for duration in (25.0, 100.0):  # 1000 and 4000 steps
        loss, gs = _loss(cell, duration)
        c = jax.jit(jax.value_and_grad(loss)).lower(gs).compile()
        temp.append(c.memory_analysis().temp_size_in_bytes)
    state = 8 * sum(g.size * g.k for g in cell.model(6.3).lowered.groups.values())
    # keeping every step's state would add 3000 states (6 MB here); chunks
    # of sqrt(n) steps keep about sqrt(n) of them and one chunk's states and
    # solves (measured: 195 -> 379 kB, the checkpointed steps 167 -> 318 kB)
    assert temp[1] - temp[0] < 0.1 * 3000 * state


def test_vmapped_gradient_uses_the_kernel_and_matches():
    """Under vmap the transposed voltage system is the C++ kernel's (blocks
    of systems at once), unbatched the plain JAX sweeps: the same gradients."""
    cell = _cell()
    loss, gs = _loss(cell, 10.0)

    def scaled(s):
        return loss([g * s for g in gs])

    s = jax.numpy.array([0.9, 1.1])
    batched = np.asarray(jax.jit(jax.vmap(jax.grad(scaled)))(s))
    one = jax.jit(jax.grad(scaled))
    single = np.array([float(one(v)) for v in s])
    assert np.all(single != 0.0)
    assert np.max(np.abs(batched - single) / np.abs(single)) < 1e-10


def test_network_with_a_netstim_beside_the_cable(monkeypatch):
    """Groups beside the cable (a NetStim) are states of the step too: the
    same gradient as the checkpointed step's (measured 9e-13 relative on
    issue 6's network with a NetStim and a one-compartment cell)."""
    net = nmlcell.Network()
    cell = nmlcell.Cell(SOMA3, nseg=3)
    cell.insert("hh", where=["soma", "axon"])
    cell.insert("pas", where="dend", g=1e-4, e=-65.0)
    cell.add(nmlcell.PointProcess("ExpSyn", tau=2.0, e=0.0), "dend[0](0.5)")
    net.add(cell, "b")
    net.add(nmlcell.NetStim(2.0, 5.0, 3, 0.0), "s")
    net.connect("s", "b", "ExpSyn[0]", weight=[0.05], delay=1.0, threshold=10.0)
    net.record("v", "b")
    p = net.parameters()
    keys = [(g, k) for g, d in p.items() if isinstance(d, dict) for k in d if k in ("gnabar_hh", "g_pas")]

    def grad():
        sim = net.simulator(15.0)

        def loss(s):
            q = {g: dict(d) if isinstance(d, dict) else d for g, d in p.items()}
            for g, k in keys:
                q[g][k] = p[g][k] * s
            return (sim(q)["b.v"] ** 2).mean()

        return float(jax.jit(jax.grad(loss))(1.0))

    used = []
    applies = cable_adjoint.applies
    monkeypatch.setattr(cable_adjoint, "applies", lambda *a: used.append(applies(*a)) or used[-1])
    g1 = grad()
    assert used and all(used)
    monkeypatch.setattr(cable_adjoint, "applies", lambda *a: False)
    g0 = grad()
    assert g0 != 0.0 and abs(g1 - g0) < 1e-10 * abs(g0)


def test_chunk_recompute_in_plain_jax_matches_the_kernel_recompute(monkeypatch):
    """The checkpointed chunk's own reverse pass (nmlcell/run.py _chunk_fn:
    the recompute solves in plain JAX and saves the eliminated diagonal)
    gives the gradients of jax.checkpoint of the chunk (the recompute on the
    kernel): measured 1.4e-12 relative here (the cell spikes; round-off of
    the two solves' orders carried through the chunk), 6.7e-15 on bench E's
    cell."""
    from nmlcell import run

    modes = []
    make = cable_adjoint._make
    monkeypatch.setattr(cable_adjoint, "_make", lambda *a: modes.append(a[-1][-1]) or make(*a))
    cell = _cell()
    loss, gs = _loss(cell, 15.0)
    g1 = jax.jit(jax.grad(loss))(gs)
    assert "recompute" in modes
    monkeypatch.setattr(run, "CHUNK_VJP", False)
    loss0, _ = _loss(cell, 15.0)
    g0 = jax.jit(jax.grad(loss0))(gs)
    for a, b in zip(g1, g0):
        a, b = np.asarray(a), np.asarray(b)
        assert np.all(b != 0.0)
        assert np.max(np.abs(a - b) / np.abs(b)) < 1e-10
