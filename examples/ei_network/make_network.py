"""Write the E-I benchmark network (braincell's EINet tutorial, Brette et
al. 2007's COBAHH) as NeuroML2 + LEMS.

    python examples/ei_network/make_network.py            # 4000 cells -> EINet.net.nml
    python examples/ei_network/make_network.py --cells 200 --out /tmp/x

The connection list (2 % fixed out-degree: each cell projects to
round(0.02 * N) distinct cells, numpy seed 42) is 320 000 <connection>
elements (26 MB) for the full network, so it is generated, not kept
in the repository; LEMS_EINet.xml includes it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# braincell's EINet (the COBAHH cell): 20000 um2, 1 uF/cm2 -> C = 200 pF
CELL = dict(C="200pF", area="20000um2", gNa="100mS_per_cm2", gK="30mS_per_cm2",
            gL="5e-5S_per_m2",  # 5 nS/cm2 as the tutorial writes it (x area: 1 pS)
            eNa="50mV", eK="-90mV", eL="-60mV", vSh="-63mV", thresh="0mV",
            vInit="-70mV", vInitRange="10mV")  # braincell's SingleCompartment: V uniform(-70, -60) mV, V_th 0 mV
SYN_E = dict(gbase="6nS", tauDecay="5ms", erev="0mV")
SYN_I = dict(gbase="67nS", tauDecay="10ms", erev="-80mV")


def connections(n_exc, n_inh, p=0.02, seed=42):
    """{(pre pop, post pop): (pre, post) index arrays}: every cell connects to
    round(p * N) distinct post cells (braincell's EventFixedProb conn_num)."""
    rng = np.random.default_rng(seed)
    n = n_exc + n_inh
    k = int(round(p * n))
    pre = np.repeat(np.arange(n), k)
    post = np.concatenate([rng.choice(n, size=k, replace=False) for _ in range(n)])
    out = {}
    for a, (lo, hi) in (("E", (0, n_exc)), ("I", (n_exc, n))):
        for b, (lo2, hi2) in (("E", (0, n_exc)), ("I", (n_exc, n))):
            sel = (pre >= lo) & (pre < hi) & (post >= lo2) & (post < hi2)
            order = np.lexsort((post[sel], pre[sel]))
            out[(a, b)] = (pre[sel][order] - lo, post[sel][order] - lo2)
    return out


def _attrs(d):
    return " ".join(f'{k}="{v}"' for k, v in d.items())


def write(out=HERE, n_exc=3200, n_inh=800, seed=42, duration="100ms", dt="0.1ms", sim_seed=1,
          net_file="EINet.net.nml", lems_file="LEMS_EINet.xml", record_v=(0,)):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    conns = connections(n_exc, n_inh, seed=seed)
    lines = ['<neuroml xmlns="http://www.neuroml.org/schema/neuroml2" id="EINet">',
             f'    <traubMilesCell id="tmCell" {_attrs(CELL)}/>',
             f'    <expOneSynapse id="synE" {_attrs(SYN_E)}/>',
             f'    <expOneSynapse id="synI" {_attrs(SYN_I)}/>',
             '    <network id="EINet">',
             f'        <population id="E" component="tmCell" size="{n_exc}"/>',
             f'        <population id="I" component="tmCell" size="{n_inh}"/>']
    for (a, b), (pre, post) in conns.items():
        lines.append(f'        <projection id="{a}to{b}" presynapticPopulation="{a}" postsynapticPopulation="{b}" '
                     f'synapse="syn{a}">')
        lines += [f'            <connection id="{k}" preCellId="../{a}[{i}]" postCellId="../{b}[{j}]"/>'
                  for k, (i, j) in enumerate(zip(pre.tolist(), post.tolist()))]
        lines.append('        </projection>')
    lines += ['    </network>', '</neuroml>', '']
    (out / net_file).write_text("\n".join(lines))
    sel = [f'            <EventSelection id="{k}" select="{p}[{i}]" eventPort="spike"/>'
           for k, (p, i) in enumerate([("E", i) for i in range(n_exc)] + [("I", i) for i in range(n_inh)])]
    cols = [f'            <OutputColumn id="v{p}{i}" quantity="{p}[{i}]/v"/>' for p in ("E", "I") for i in record_v]
    lems = ['<Lems>',
            '    <Target component="sim"/>',
            '    <Include file="Cells.xml"/>',
            '    <Include file="Synapses.xml"/>',
            '    <Include file="Networks.xml"/>',
            '    <Include file="Simulation.xml"/>',
            '    <Include file="TraubMilesCell.xml"/>',
            f'    <Include file="{net_file}"/>',
            f'    <Simulation id="sim" length="{duration}" step="{dt}" target="EINet" seed="{sim_seed}">',
            '        <OutputFile id="v" fileName="EINet.v.dat">', *cols, '        </OutputFile>',
            '        <EventOutputFile id="spikes" fileName="EINet.spikes" format="ID_TIME">', *sel,
            '        </EventOutputFile>',
            '    </Simulation>', '</Lems>', '']
    (out / lems_file).write_text("\n".join(lems))
    if out != HERE:
        (out / "TraubMilesCell.xml").write_text((HERE / "TraubMilesCell.xml").read_text())
    return out / lems_file


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=4000, help="total cells, 80 %% excitatory")
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    ne = a.cells * 4 // 5
    print(write(a.out, ne, a.cells - ne, seed=a.seed))
