"""The E-I benchmark network (examples/ei_network, braincell's EINet) and
the merging of linear synapses (nmlcell/passes/merge_synapses.py).

Quick: a 200-cell version of the example runs under ind_exp_euler, and
merged synapses (one per post cell and type) give the same v and spikes as
one synapse per connection, also with expTwoSynapse/alphaSynapse, weights
and delays, and with the delivery loop forced to take 2 sources per pass;
the C++ (CPUs) and pull (GPUs) deliveries give the loop's sums bit for bit.
Slow: the full 4000-cell example (its rate)."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import nmlcell
from nmlcell.lower import _deliver_ffi
from nmlcell.passes import merge_synapses as ms

EX = Path(__file__).resolve().parents[1] / "examples" / "ei_network"


def _make():
    spec = importlib.util.spec_from_file_location("ei_make_network", EX / "make_network.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["ei_make_network"] = mod
    spec.loader.exec_module(mod)
    return mod


def _run(path, merge, record, **kw):
    m = nmlcell.load(path)
    m.merge_synapses = merge
    m.solver = "ind_exp_euler"  # forward Euler (lems_euler, the default) diverges at dt 0.1 ms on this cell
    res = m.run(progress=False, record=record, **kw)
    return m, res


def _same(a, b, record):
    for q in record:
        assert np.max(np.abs(np.asarray(a[q]) - np.asarray(b[q]))) < 1e-9, q
    assert a.spikes.keys() == b.spikes.keys()
    for k in a.spikes:
        assert np.array_equal(np.asarray(a.spikes[k]), np.asarray(b.spikes[k])), k


REC = ["E[0]/v", "E[7]/v", "I[3]/v"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return _make().write(tmp_path_factory.mktemp("ei200"), 160, 40)


def test_small_network_merged_equals_unmerged(small):
    m1, a = _run(small, False, REC)
    m2, b = _run(small, True, REC)
    n1 = sum(g.size * len(g.mech.states) for g in m1.lowered.groups.values())
    n2 = sum(g.size * len(g.mech.states) for g in m2.lowered.groups.values())
    assert n1 == 200 * 5 + 800 and n2 < n1  # one g per connection vs per (cell, type)
    _same(a, b, REC)
    total = sum(len(s) for s in a.spikes.values())
    assert 100 < total < 2000  # it fires (258 spikes at seed 42)


def test_merged_exp2_alpha_weights_delays(small, tmp_path, monkeypatch):
    """expTwoSynapse and alphaSynapse, per-connection weights and delays;
    the delivery loop taking 2 spiking sources per pass."""
    d = Path(small).parent
    net = (d / "EINet.net.nml").read_text()
    net = net.replace('<expOneSynapse id="synE" gbase="6nS" tauDecay="5ms" erev="0mV"/>',
                      '<expTwoSynapse id="synE" gbase="6nS" tauRise="1ms" tauDecay="5ms" erev="0mV"/>')
    net = net.replace('<expOneSynapse id="synI" gbase="67nS" tauDecay="10ms" erev="-80mV"/>',
                      '<alphaSynapse id="synI" gbase="67nS" tau="3ms" erev="-80mV"/>')
    net = re.sub(r'<connection id="(\d+)" (preCellId="[^"]+" postCellId="[^"]+")/>',
                 lambda mm: (f'<connectionWD id="{mm.group(1)}" {mm.group(2)} weight="{0.5 + int(mm.group(1)) % 5 * 0.25}" '
                             f'delay="{int(mm.group(1)) % 4 * 0.5}ms"/>'), net)
    assert "connectionWD" in net and "alphaSynapse" in net
    for f in ("LEMS_EINet.xml", "TraubMilesCell.xml"):
        (tmp_path / f).write_text((d / f).read_text())
    (tmp_path / "EINet.net.nml").write_text(net)
    path = tmp_path / "LEMS_EINet.xml"
    _m, a = _run(path, False, REC, duration=50)
    monkeypatch.setattr(ms.MergedEventPlan, "MAX_SPIKES", 2)
    monkeypatch.setattr(ms.MergedEventPlan, "DELIVERY", "loop")
    m2, b = _run(path, True, REC, duration=50)
    assert any(isinstance(e, ms.WeightedEventLink) for e in m2.lowered.event_links)
    _same(a, b, REC)
    # the other deliveries: the same additions in the same order, so on a CPU the same trajectory
    # bit for bit (a GPU's scatter-add takes a pass's additions in no set order)
    import jax

    cpu = jax.default_backend() == "cpu"
    others = ["pull"] + (["ffi"] if cpu and _deliver_ffi.load() else [])
    for dl in others:
        monkeypatch.setattr(ms.MergedEventPlan, "DELIVERY", dl)
        m3, c = _run(path, True, REC, duration=50)
        assert m3.lowered._event_plans[0.1].delivery() == dl
        for q in REC:
            assert not cpu or np.array_equal(np.asarray(b[q]), np.asarray(c[q])), (dl, q)
        _same(b, c, REC)


def test_delivery_choice(monkeypatch):
    """auto: the C++ kernel on CPUs (the JAX loop where it cannot be built
    or NMLCELL_NO_FFI is set), the pull (no data-dependent control flow) on
    other backends; an unknown name is refused."""
    import jax

    def plan():
        return ms.MergedEventPlan.__new__(ms.MergedEventPlan)

    if jax.default_backend() == "cpu":
        p = plan()
        first = "ffi" if _deliver_ffi.load() else "loop"
        assert p.delivery() == first, _deliver_ffi.status()
        monkeypatch.setattr(ms.MergedEventPlan, "DELIVERY", "pull")
        assert p.delivery() == first  # a plan keeps its first choice (its compiled run follows it)
        monkeypatch.setattr(ms.MergedEventPlan, "DELIVERY", "auto")
        monkeypatch.setenv("NMLCELL_NO_FFI", "1")
        assert plan().delivery() == "loop"
        monkeypatch.setattr(ms.MergedEventPlan, "DELIVERY", "ffi")
        with pytest.raises(ValueError, match="unavailable"):
            plan().delivery()
        monkeypatch.setattr(ms.MergedEventPlan, "DELIVERY", "auto")
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert plan().delivery() == "pull"
    monkeypatch.setattr(ms.MergedEventPlan, "DELIVERY", "dense")
    with pytest.raises(ValueError, match="unknown delivery"):
        plan().delivery()


def test_what_merges():
    """The linearity check on the core synapse types: linear ones merge,
    plastic/blocking/event-emitting ones do not."""
    m = nmlcell.load(Path(__file__).parent / "data" / "lems_network" / "LEMS_synapse_types.xml")
    verdict = {g.component: ms.mergeable(g.mechanism, "i") for g in m.ir.network.groups if g.mechanism.kind == "synapse"}
    for ok in ("exp1", "exp2", "exp3", "alpha", "alphaI", "mine"):
        assert verdict[ok] is None, (ok, verdict[ok])
    for no in ("nmda", "stdp", "double"):
        assert verdict[no] is not None, no
    # lems_euler (jNeuroML's order) keeps one synapse per connection
    assert not any(isinstance(e, ms.WeightedEventLink) for e in m._variant(True).event_links)


@pytest.mark.slow
def test_full_example_rate(tmp_path):
    """The 4000-cell example: its mean rate under ind_exp_euler (braincell's
    EINet at the same parameters: see bench/bench_ei.py)."""
    path = _make().write(tmp_path)
    m = nmlcell.load(path)
    res = m.run(progress=False, solver="ind_exp_euler", record=["E[0]/v"])
    n = sum(len(s) for s in res.spikes.values())
    rate = n / 4000 / 0.1
    assert 20 < rate < 60, rate  # 36.6 Hz measured
