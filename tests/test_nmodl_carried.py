"""Values NEURON carries from one BREAKPOINT call to the next
(``Mechanism.carried``), against NEURON 9.

NEURON's current phase runs BREAKPOINT's statements (without the SOLVE)
twice per step, at ``v + 0.001`` then at ``v``, and ``finitialize`` does the
same after INITIAL (a counter BREAKPOINT increments is 2 at t = 0, then 2
more per step: ``ncall_latch`` below). The mods in
``tests/data/mod/regress/carried`` (written for these tests):

- ``latch``: a current assigned only while ``v > vth`` (it keeps its last
  value below: an ASSIGNED read before it is assigned, pyNN's gap.mod form)
  and the call counter;
- ``jump``: a STATE set to its steady state in BREAKPOINT after the SOLVE
  when that is above 0.7 (jNeuroML's gradedSynapse form);
- ``jumpp``: a STATE reset by a PROCEDURE BREAKPOINT calls before its SOLVE,
  the current read before the reset (the second call reads the first's reset);
- ``statecur``: a NONSPECIFIC_CURRENT that is a STATE (pyNN's expisyn form);
- ``counter``: no current, so NEURON runs its BREAKPOINT once per step in
  the state phase (new v) and not in finitialize: counts steps, and the
  steps on which v rose above the previous call's v;
- ``statesyn``, ``latchsyn``: point processes with NET_RECEIVE, a STATE
  current and a held current.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import nmlcell
from nmlcell.errors import OptionError, UnsupportedError
from nmlcell.importers.nmodl import load_mod_file
from grad_check import grad_and_fd
from nrn_cells import HH_SOMA_AXON_PAS

FOLDER = Path(__file__).resolve().parent / "data" / "mod" / "regress" / "carried"
SOMA3 = Path(__file__).resolve().parent / "data" / "morph" / "soma3.swc"
NAMES = ("latch", "jump", "jumpp", "statecur", "counter")


def test_carried_values_against_neuron():
    """hh + the five mods, IClamp 0.3 nA for 30 ms, 40 ms, dt 0.025 (spikes;
    the latch engages, both jumps happen). Measured: v within 1.2e-11 mV,
    the counters exact, the other values within 1.6e-13 (vlast_counter, a
    v, 1.2e-11 mV). Evaluated once per step instead (the second call not
    reading the first's values), v was 22 mV off and ncall 1600."""
    from nrn_cells import compile_mods, neuron_run, nmlcell_run

    mechs = {n: load_mod_file(FOLDER / f"{n}.mod") for n in NAMES}
    assert dict(mechs["latch"].carried) == {"i@prev": "i", "ncall@prev": "ncall"}
    assert dict(mechs["jump"].carried) == {"s": "s@jump"}
    assert dict(mechs["jumpp"].carried) == {"r": "r@jump"}
    assert mechs["statecur"].carried == ()
    assert dict(mechs["counter"].carried) == {}   # no current: BREAKPOINT in the state phase (updates)
    rec = ["v", "ncall_latch", "n_counter", "up_counter", "i_latch", "s_jump", "i_jump", "r_jumpp", "i_jumpp",
           "i_statecur", "vlast_counter"]
    cfg = dict(lib=compile_mods(FOLDER), L=20.0, diam=20.0, cm=1.0, Ra=100.0,
               insert=[["hh", {}]] + [[n, {}] for n in NAMES],
               iclamp=[2.0, 30.0, 0.3], T=40.0, dt=0.025, celsius=6.3, record=rec)
    ref = neuron_run(cfg)
    ours, _res = nmlcell_run(cfg, mechs)
    v = ref["v"]
    assert v.max() > 20.0   # it spikes
    # NEURON's two BREAKPOINT calls at finitialize and per step
    assert np.array_equal(ref["ncall_latch"], 2.0 + 2.0 * np.arange(len(v)))
    # the latch holds a value below threshold, the jumps happen
    held = (v < -30.0) & (ref["i_latch"] > 0.01)
    assert held.sum() > 100
    assert ref["s_jump"].max() > 0.99 and ref["r_jumpp"].min() < 0.01
    assert np.max(np.abs(ours["v"] - v)) < 1e-9
    # without a current: once per step, in the state phase, none at finitialize
    assert np.array_equal(ref["n_counter"], np.arange(len(v), dtype=float))
    assert 100 < ref["up_counter"][-1] < len(v) - 100
    for q in ("ncall_latch", "n_counter", "up_counter"):
        assert np.array_equal(ours[q], ref[q]), q
    for q in rec[4:]:
        assert np.max(np.abs(ours[q] - ref[q])) < 1e-11 * max(1.0, np.ptp(ref[q])), q


_BRANCHED = 'h.nrn_load_dll(cfg["lib"])\n' + HH_SOMA_AXON_PAS + '''
for s in secs:
    s.insert("latch")
'''


def test_carried_value_on_a_branched_cell_against_neuron():
    """soma3.swc (soma, two dendrites, an axon; nseg 3): hh on soma and
    axon, pas on the dendrites, ``latch`` everywhere, IClamp 0.5 nA at the
    soma, 30 ms (the latch engages everywhere). Measured: v within 1.1e-11
    mV at four places."""
    from nrn_cells import ICLAMP_RECORD_RUN, IMPORT3D_HEAD, compile_mods, run_script

    rec = [["soma[0]", 0.5], ["dend[0]", 0.5], ["dend[1]", 0.9], ["axon[0]", 0.9]]
    cfg = dict(morph=str(SOMA3), rec=rec, amp=0.5, T=30.0, lib=compile_mods(FOLDER))
    ref = run_script(IMPORT3D_HEAD + _BRANCHED + ICLAMP_RECORD_RUN, cfg, "r.npy", np.load)
    cell = nmlcell.Cell(SOMA3, nseg=3, cm=1.0, Ra=100.0)
    regions = {s.region for s in cell.morphology.sections}
    cell.insert(load_mod_file(FOLDER / "latch.mod"))
    cell.insert("hh", where=[r for r in ("soma", "axon") if r in regions])
    cell.insert("pas", where=[r for r in regions if r not in ("soma", "axon")], g=1e-4, e=-65.0)
    cell.add(nmlcell.IClamp(delay=2.0, dur=20.0, amp=0.5), at=f"{cell.morphology.sections[0].name}(0.5)")
    names = [f"{n}({x}).v" for n, x in rec]
    res = cell.run(duration=30.0, dt=0.025, celsius=6.3, record=names)
    ours = np.array([res[q] for q in names])
    assert ref[0].max() > 20.0   # it fires, the latch engages
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) < 1e-9


def test_carried_values_in_synapses_against_neuron():
    """Two point processes on an hh cell, driven by NetStims through
    NetCons: ``StateSyn`` (its current a STATE, decaying, stepped by
    NET_RECEIVE: pyNN's expisyn form) and ``LatchSyn`` (its current
    updated only while g > gmin, held below: a carried value), 60 ms.
    Measured: v within 3.0e-11 mV, StateSyn's i within 7e-18 nA, LatchSyn's
    i within 7.9e-14 nA, g exact; the cell spikes 3 times."""
    from nrn_cells import compile_mods
    from nrn_network import neuron_net, nmlcell_net

    mechs = {**nmlcell.load_mod(FOLDER / "statesyn.mod"), **nmlcell.load_mod(FOLDER / "latchsyn.mod")}
    assert mechs["StateSyn"].carried == () and dict(mechs["LatchSyn"].carried) == {"i@prev": "i"}
    syn = [["a", "v"], ["a", "StateSyn[0].i"], ["a", "LatchSyn[0].i"], ["a", "LatchSyn[0].g"]]
    cfg = {"lib": compile_mods(FOLDER), "T": 60.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"a": {"L": 20.0, "diam": 20.0, "cm": 1.0, "Ra": 100.0, "insert": [["hh", {}]],
                           "syns": [["StateSyn", {"tau": 3.0}], ["LatchSyn", {"tau": 4.0}]]}},
           "stims": {"s": {"start": 5.0, "interval": 8.0, "number": 6, "noise": 0},
                     "s2": {"start": 9.3, "interval": 13.0, "number": 3, "noise": 0}},
           "netcons": [["s", "a", "StateSyn[0]", [0.08], 1.0, 10.0],
                       ["s2", "a", "LatchSyn[0]", [0.004], 0.5, 10.0]],
           "record": syn}
    rn, sn = neuron_net(cfg)
    rm, _sm, _res = nmlcell_net(cfg, mechs)
    assert len(sn["a"]) == 3
    g, i = rn["a.LatchSyn[0].g"], rn["a.LatchSyn[0].i"]
    assert np.sum((g < 0.001) & (np.abs(i) > 0.01)) > 100   # the latch holds
    assert np.max(np.abs(rm["a.v"] - rn["a.v"])) < 1e-9
    for q in ("a.StateSyn[0].i", "a.LatchSyn[0].i", "a.LatchSyn[0].g"):
        assert np.ptp(rn[q]) > 1e-3, q
        assert np.max(np.abs(rm[q] - rn[q])) < 1e-11 * max(1.0, np.ptp(rn[q])), q


@pytest.mark.slow
def test_gradient_through_carried_values():
    """jax.grad through a branched cell with a jumped STATE (``jump``, its
    condition holding at rest) and a latch engaged (``latch``, vth -70 mV)
    equals a central finite difference (measured: 8.5e-11 relative)."""
    cell = nmlcell.Cell(SOMA3, nseg=1)
    cell.insert("pas", g=1e-4, e=-65.0)
    cell.insert(load_mod_file(FOLDER / "jump.mod"), vh=-66.0)
    cell.insert(load_mod_file(FOLDER / "latch.mod"), vth=-70.0)
    cell.add(nmlcell.IClamp(delay=0.0, dur=10.0, amp=0.05), at="soma[0](0.5)")
    sim = cell.simulator(duration=5.0, dt=0.05, record=["dend[0](0.5).v"])
    grad, fd = grad_and_fd(sim, cell.parameters(), "g_jump", "dend[0](0.5).v")
    assert grad != 0.0 and abs(grad - fd) < 1e-6 * abs(fd)


def test_carried_values_need_the_staggered_solver():
    """Only ``staggered`` evaluates NEURON's two BREAKPOINT calls; another
    solver is refused, naming the mechanism."""
    for name in ("latch", "jump"):
        cell = nmlcell.Cell.soma(L=20.0, diam=20.0)
        cell.insert(load_mod_file(FOLDER / f"{name}.mod"))
        cell.solver = "rk4"
        with pytest.raises(OptionError, match=name):
            cell.run(duration=1.0, dt=0.025)


_REFUSED = {
    # name: (text, message, line)
    "state_in_derivative": ("""NEURON { SUFFIX %s NONSPECIFIC_CURRENT i }
STATE { s }
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT {
    SOLVE st METHOD cnexp
    i = 0.001*s*(v + 80)
}
DERIVATIVE st {
    s' = -s
    if (s < 0.1) { s = 1 }
}
""", "assignment to STATE 's' in DERIVATIVE st, outside INITIAL (a discrete jump in NEURON's state phase)", 10),
    "read_before_solved_assigns": ("""NEURON { SUFFIX %s NONSPECIFIC_CURRENT i }
STATE { s }
ASSIGNED { v (mV) i (mA/cm2) x }
BREAKPOINT {
    i = 0.001*x*(v + 80)
    SOLVE st METHOD cnexp
}
DERIVATIVE st {
    x = 2*s
    s' = -s
}
""", "'x' read before it is assigned (its value from the previous step or run)", 3),
    "state_current_assigned": ("""NEURON { SUFFIX %s NONSPECIFIC_CURRENT i }
STATE { i (mA/cm2) }
ASSIGNED { v (mV) }
BREAKPOINT {
    SOLVE st METHOD cnexp
    if (v > 0) { i = 0 }
}
DERIVATIVE st { i' = -i }
""", "current 'i' is a STATE that BREAKPOINT assigns", 6),
    "file_local_read_first": ("""NEURON { SUFFIX %s NONSPECIFIC_CURRENT i }
LOCAL w
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT {
    if (v > 0) { w = v }
    i = 0.001*w
}
""", "'w' may be read before it is assigned (it keeps its value from the previous step): a file LOCAL", 5),
}


_REFUSED["nocurrent_jump"] = ("""NEURON { SUFFIX %s }
STATE { s }
ASSIGNED { v (mV) }
BREAKPOINT {
    SOLVE st METHOD cnexp
    if (v > 0) { s = 1 }
}
DERIVATIVE st { s' = -s }
""", "a STATE assigned in the BREAKPOINT of a mechanism without a current", 4)


@pytest.mark.parametrize("name", sorted(_REFUSED))
def test_kept_refusals_name_file_and_line(tmp_path, name):
    """What stays refused is listed with file:line, first (a refused read
    also leaves the current unassigned: a second item)."""
    text, msg, line = _REFUSED[name]
    f = tmp_path / f"{name}.mod"
    f.write_text(text % name)
    with pytest.raises(UnsupportedError) as e:
        load_mod_file(f)
    items = e.value.items
    assert len(items) == (2 if name == "read_before_solved_assigns" else 1), items
    assert items[0].startswith(msg), items
    assert items[0].endswith(f"({f.name}:{line})"), items
    assert all(re.search(rf"\({f.name}:\d+\)$", x) for x in items), items
