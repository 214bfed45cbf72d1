"""nmlcell.Network with branched cells (issue 6) against the same network
in NEURON (tests/nrn_network.py): NetCons watching v at a place of a
branched cell, synapses on dendrites, one Hines tree for all branched
cells."""
from __future__ import annotations

import numpy as np
import pytest

from nrn_network import neuron_net, nmlcell_net

import nmlcell
from nmlcell.errors import OptionError


def _cell(amp=None):
    """A 20x20 um root (hh) with a 3-section dendrite (pas) and a side branch."""
    c = {"cm": 1.0, "Ra": 100.0, "nseg": 3,
         "sections": [["dend[0]", None, None, 20.0, 20.0], ["dend[1]", "dend[0]", 1.0, 150.0, 2.0],
                      ["dend[2]", "dend[1]", 1.0, 100.0, 1.5], ["dend[3]", "dend[1]", 1.0, 120.0, 1.0]],
         "insert": [["hh", {}, ["dend[0]"]], ["pas", {"g": 1e-4, "e": -65.0}, ["dend[1]", "dend[2]", "dend[3]"]]],
         "syns": [["Exp2Syn", {"tau1": 0.5, "tau2": 4.0, "e": 0.0}, "dend[3](0.7)"],
                  ["Exp2Syn", {"tau1": 1.0, "tau2": 8.0, "e": -80.0}, "dend[0](0.5)"]]}
    if amp:
        c["iclamp"] = [5.0, 60.0, amp, "dend[0](0.5)"]
    return c


CFG = {"lib": None, "T": 80.0, "dt": 0.025, "celsius": 6.3,
       "cells": {"a": _cell(0.3), "b": _cell()},
       "netcons": [["a", "b", "Exp2Syn[0]", [0.02], 2.0, -10.0, "dend[0](0.5)"],
                   ["b", "a", "Exp2Syn[1]", [0.005], 1.5, 0.0, "dend[0](0.5)"]],
       "record": [["a", "v"], ["b", "v"], ["b", "v", "dend[3](0.7)"], ["b", "Exp2Syn[0].g"]]}


def test_two_branched_cells_exp2syn_vs_neuron():
    """Cell a (pulse into its root) excites b's dendrite through an Exp2Syn
    at dend[3](0.7); b inhibits a's root: the same spikes on NEURON's
    steps, voltages at the roots and on b's dendrite."""
    ref, ref_spk = neuron_net(CFG)
    got, spk, _res = nmlcell_net(CFG)
    for k in ref:
        n = min(len(ref[k]), len(got[k]))
        print(k, float(np.max(np.abs(np.asarray(got[k])[:n] - ref[k][:n]))))
    for name in ("a", "b"):
        print(name, spk[name], ref_spk[name])
    assert len(ref_spk["b"]) >= 2 and len(ref_spk["a"]) >= 3
    for name in ("a", "b"):
        np.testing.assert_allclose(spk[name], ref_spk[name], atol=1e-9)
    for k in ("a.v", "b.v", "b.dend[3](0.7).v"):
        n = min(len(ref[k]), len(got[k]))
        assert np.max(np.abs(np.asarray(got[k])[:n] - ref[k][:n])) < 1e-6, k
    np.testing.assert_allclose(got["b.Exp2Syn[0].g"], ref["b.Exp2Syn[0].g"][:len(got["b.Exp2Syn[0].g"])], atol=1e-12)


def test_branched_cell_with_netstim_and_a_one_compartment_cell():
    """A NetStim drives the branched cell's dendrite; the branched cell
    drives a one-compartment hh cell (stepped beside the cable): the same
    spikes on NEURON's steps, voltages within 1e-6 mV."""
    cfg = {"lib": None, "T": 60.0, "dt": 0.025, "celsius": 6.3,
           "cells": {"b": _cell(),
                     "c": {"L": 20, "diam": 20, "cm": 1, "Ra": 100, "insert": [["hh", {}]],
                           "syns": [["ExpSyn", {"tau": 2.0, "e": 0.0}]]}},
           "stims": {"s": {"start": 5.0, "interval": 12.0, "number": 4}},
           "netcons": [["s", "b", "Exp2Syn[0]", [0.03], 1.0, 10.0],
                       ["b", "c", "ExpSyn[0]", [0.01], 1.0, -20.0, "dend[1](0.1)"]],
           "record": [["b", "v"], ["c", "v"], ["b", "v", "dend[1](0.1)"]]}
    ref, ref_spk = neuron_net(cfg)
    got, spk, _res = nmlcell_net(cfg)
    assert len(ref_spk["b"]) >= 3 and len(ref_spk["c"]) >= 3   # c's spikes: through its v below
    for name in ("s", "b"):
        np.testing.assert_allclose(spk[name], ref_spk[name], atol=1e-9)
    for k in ref:
        n = min(len(ref[k]), len(got[k]))
        assert np.max(np.abs(np.asarray(got[k])[:n] - ref[k][:n])) < 1e-6, k


def test_branched_netcon_places_checked(tmp_path):
    net = nmlcell.Network()
    swc = tmp_path / "c.swc"
    swc.write_text("1 3 0 0 0 10 -1\n2 3 20 0 0 10 1\n")
    a = nmlcell.Cell(swc).create("dend[1]", L=100.0, diam=2.0, at="dend[0](1)")
    b = nmlcell.Cell(swc)
    syn = b.add(nmlcell.PointProcess("ExpSyn", tau=2.0), "dend[0](0.5)")
    net.add(a, "a"), net.add(b, "b")
    with pytest.raises(OptionError, match="dend\\[7\\]"):
        net.connect(a, b, syn, weight=0.01, at="dend[7](0.5)")
    net.connect(a, b, syn, weight=0.01, at="dend[1](0.5)")
    with pytest.raises(OptionError, match="one place per cell"):
        net.connect(a, b, syn, weight=0.01, at="dend[0](0.5)")
