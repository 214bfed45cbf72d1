"""NEURON's fixed step on a branched cable (``staggered`` on a cell with a
:class:`~nmlcell.ir.model.Cable`).

Every node is one instance of one group (the compartments with the same
mechanisms share one generated kernel). A step:

1. each group's ``currents`` at ``t + dt/2``: ``i_membrane`` (mA/cm2) and
   NEURON's ``g = di/dv``;
2. the voltage system of ``nrn_fixed_step`` (``secondorder = 0``), NEURON's
   matrix in its units: ``b[i] = -100/(ri[i] area[i])``,
   ``a[i] = -100/(ri[i] area[parent])`` (a zero-area end node counts
   100 µm², as NEURON's matrix does: its row is a current balance),
   ``d = 1e-3 cm/dt + g - b - sum of the children's a``,
   ``rhs = -i_membrane`` plus the axial currents ``-b (v_p - v)`` and
   ``+a (v_p - v)``, solved exactly by the Hines solve
   (:func:`nmlcell.lower.cable.tree_solve`);
3. each group's ``states`` with its nodes' new v; an input fed by a
   :class:`~nmlcell.ir.model.Link` from a cable node's ``v`` (a POINTER
   to another compartment's v: the ``vpeer`` of a gap junction or graded
   synapse) is read again from the solved voltages first, as NEURON's
   pointer reads the new v in ``nrn_state`` (the current phase read the
   old one), and so are the phase-1 derived values that depend on it
   (except the frozen ion currents, which stay the current phase's).
"""
from __future__ import annotations

import numpy as np


class CablePlan:
    def __init__(self, cable, groups):
        self.parent = np.asarray(cable.parent, dtype=np.int64)
        n = len(self.parent)
        area = np.asarray(cable.area, dtype=float)
        row_area = np.where(area > 0, area, 100.0)
        ri = np.asarray(cable.ri, dtype=float)
        a = np.zeros(n)
        b = np.zeros(n)
        for i in range(1, n):
            p = self.parent[i]
            b[i] = -100.0 / (ri[i] * row_area[i])
            a[i] = -100.0 / (ri[i] * row_area[p])
        self.a, self.b = a, b
        # d's axial part: -b[i] in row i, -a[c] in the parent's row
        dax = -b.copy()
        np.add.at(dax, self.parent[1:], -a[1:])
        self.d_axial = dax
        self.n = n
        self.members = {gid: np.asarray(idx, dtype=np.int64) for gid, idx in cable.members.items()}
        covered = np.zeros(n, dtype=int)
        for gid, idx in self.members.items():
            if gid not in groups:
                raise ValueError(f"cable names group '{gid}', which the model lacks")
            if len(idx) != groups[gid].size:
                raise ValueError(f"group '{gid}' has {groups[gid].size} instances, the cable {len(idx)} nodes")
            covered[idx] += 1
        if not (covered == 1).all():
            raise ValueError("every cable node must be exactly one instance of one group")
        # each node's children, padded with n (a zero appended), so that the
        # axial currents into parents are gathers, not a scatter
        kids = [[] for _ in range(n)]
        for i in range(1, n):
            kids[self.parent[i]].append(i)
        k = max(1, max(len(c) for c in kids))
        self.children = np.full((n, k), n, dtype=np.int64)
        for i, c in enumerate(kids):
            self.children[i, :len(c)] = c
        # the groups' instances side by side, then one gather into Hines order
        self.order = [gid for gid in groups if gid in self.members]
        cat = np.concatenate([self.members[g] for g in self.order])
        self.to_hines = np.argsort(cat)
        sizes = [len(self.members[g]) for g in self.order]
        from .cable import CableSystem

        self.system = CableSystem(self.parent, self.to_hines, a, b, dax, sizes=sizes)


def cable_staggered_step(system, t, y, dt, p):
    """NEURON's fixed step, ``secondorder = 0``, each mechanism's own METHOD."""
    return cable_step(system, t, y, dt, p)


def _kernel(system, gid, variant):
    from .staggered import StaggeredKernel

    g = system.groups[gid]
    if variant is None:
        if g.staggered is None:
            g.staggered = StaggeredKernel(g.mech, g.kernel.static)
        return g.staggered
    cache = system.__dict__.setdefault("_cable_variant_kernels", {})
    if (gid, variant) not in cache:
        cache[gid, variant] = StaggeredKernel(g.mech, g.kernel.static, variant)
    return cache[gid, variant]


def cable_step(system, t, y, dt, p, *, variant=None, second_order=False):
    """One step on the cable (:func:`_cable_step`), rematerialised in reverse
    mode; NEURON's first-order step on the CPU kernel with its own reverse
    pass (:mod:`nmlcell.lower.cable_adjoint`)."""
    import jax

    from . import cable_adjoint

    if not second_order and cable_adjoint.applies(system, t, y, p):
        return cable_adjoint.step_fn(system, variant, y)(t, y, p, dt)
    # rematerialised in reverse mode: the backward pass recomputes the step from
    # its inputs instead of saving each of its intermediates (measured on bench E:
    # value_and_grad 0.39 -> 0.22 s, the forward pass not slower)
    return jax.checkpoint(lambda t, y, p: _cable_step(system, t, y, dt, p, variant=variant,
                                                      second_order=second_order),
                          prevent_cse=False)(t, y, p)


def _cable_step(system, t, y, dt, p, *, variant=None, second_order=False):
    """One step on the cable. ``variant``: how the mechanisms' states
    advance (:class:`~nmlcell.lower.staggered.StaggeredKernel`); with
    ``second_order`` (NEURON's ``secondorder = 2``, ``variant="cn"``) the
    matrix carries ``2e-3 cm/dt``, the solve gives the half step
    ``dv = v(t + dt/2) - v(t)``, ``v += 2 dv``, and each ion current is
    moved to the half step, ``i_ion += di_ion/dv dv``, before the states
    read it (NEURON's ``second_order_cur``)."""
    from .cable import cable_solve_groups

    plan = system.cable_plan
    Vs, Is, Ds, carried = current_phase(system, t, y, dt, p, variant, 2e-3 if second_order else 1e-3)
    # the groups' own arrays in, each group's dv (second order) or new v out:
    # the kernel gathers into Hines order and writes each group's result (no
    # concatenation or gather in XLA)
    res = cable_solve_groups(plan.system, Vs, Is, Ds, add_v=not second_order)
    v_new_of = {gid: Vs[k] + 2.0 * res[k] if second_order else res[k] for k, gid in enumerate(plan.order)}
    out = {}
    for k, gid in enumerate(plan.order):
        kern = _kernel(system, gid, variant)
        u, pa, slopes = carried[gid]
        dvg = res[k]
        v_new = v_new_of[gid]
        relink = _relinked(system).get(gid)
        if relink:
            u, pa = _reread(system, gid, kern, relink, t, y, p, u, pa, dt, v_new_of)
        if second_order and kern.ion_currents:
            pa = list(pa)
            for (j, _name), s in zip(kern.ion_currents, slopes):
                pa[j] = pa[j] + s * dvg
            pa = tuple(pa)
        out[gid] = kern.states(t, y[gid], p[gid], u, dt, v_new, pa)
    return out


def current_phase(system, t, y, dt, p, variant=None, cfac=1e-3):
    """Phase 1 of :func:`_cable_step`: per group (in the plan's order) its
    nodes' v, membrane current, the diagonal without its axial part
    (``cfac cm/dt + di/dv``), and {group: (inputs, phase-1 values, ion
    current slopes)} for the state phase."""
    import jax.numpy as jnp

    plan = system.cable_plan
    dtype = next(iter(y.values()))[0].dtype
    Vs, Is, Ds = [], [], []
    carried = {}
    for gid in plan.order:
        g = system.groups[gid]
        kern = _kernel(system, gid, variant)
        u = system._inputs(t, y, p, gid, {})
        out = kern.currents(t, y[gid], p[gid], u, dt)
        i0, gg, pa = out[:3]
        carried[gid] = (u, pa, out[3] if len(out) > 3 else ())
        Vs.append(y[gid][g.state_index["v"]])
        Is.append(i0)
        cm = jnp.broadcast_to(p[gid]["cm"], (g.size,)).astype(dtype)
        Ds.append(cfac * cm / dt + gg)
    return Vs, Is, Ds, carried


def state_phase(system, t, y, dt, p, variant, v_new, carried):
    """Phase 3 of :func:`_cable_step` for NEURON's first-order step without
    relinked inputs: each group's ``states`` with its nodes' new v
    (``v_new``: one array per group, in the plan's order)."""
    plan = system.cable_plan
    return {gid: _kernel(system, gid, variant).states(t, y[gid], p[gid], carried[gid][0], dt, v_new[k],
                                                       carried[gid][1])
            for k, gid in enumerate(plan.order)}


def _relinked(system) -> dict:
    """{group: (the names of its inputs fed by a link from a cable node's
    ``v``, the indices of its phase-1 derived values that depend on them)},
    computed once per system."""
    if "_cable_relinked" in system.__dict__:
        return system.__dict__["_cable_relinked"]
    plan = system.cable_plan
    found = {}
    for gid in plan.order:
        names = {l.dst_input for l, _t, _v in system._link_tables.get(gid, ())
                 if l.src in plan.members and system.plain(system.groups[l.src], l.src_var) == "v"}
        if not names:
            continue
        mech = system.groups[gid].mech
        frozen = set(mech.frozen)
        dep, idx = set(names), []
        for k, d in enumerate(mech.derived):
            if d.name not in frozen and {a.name for a in d.expr.free_symbols} & dep:
                dep.add(d.name)
                idx.append(k)
        found[gid] = (frozenset(names), tuple(idx))
    system.__dict__["_cable_relinked"] = found
    return found


def _reread(system, gid, kern, relink, t, y, p, u, pa, dt, v_new_of):
    """The state phase's inputs and phase-1 values of group ``gid``: each
    input of ``relink`` rebuilt from its links with the cable nodes' new v
    (other sources as at the step's start), the derived values that depend
    on it recomputed (the current phase's kernel with these inputs; XLA
    keeps only what is used)."""
    import jax.numpy as jnp

    names, idx = relink
    plan = system.cable_plan
    u = dict(u)
    for n in names:
        u[n] = jnp.zeros_like(u[n])
    memo = {}
    for l, table, valid in system._link_tables.get(gid, ()):
        if l.dst_input not in names:
            continue
        if l.src in plan.members and system.plain(system.groups[l.src], l.src_var) == "v":
            src = v_new_of[l.src]
        else:
            src = system._value(t, y, p, l.src, l.src_var, memo)
        vals = src if table is None else jnp.sum(jnp.where(valid, src[table], 0.0), axis=1)
        u[l.dst_input] = u[l.dst_input] + vals if l.kind == "sum" else vals
    if idx:
        pa2 = kern.currents(t, y[gid], p[gid], u, dt)[2]
        pa = tuple(pa2[k] if k in idx else x for k, x in enumerate(pa))
    return u, pa


def gershgorin_rate(system) -> float:
    """An upper bound (1/ms) of the largest |eigenvalue| of the cable's
    voltage system ``C dv/dt = -A v`` from its axial part (Gershgorin's
    discs: row ``i`` lies within ``2 d_axial[i] / (1e-3 cm[i])``); the
    membrane's own conductances only add to it."""
    plan = system.cable_plan
    cm = np.ones(plan.n)
    for gid, idx in plan.members.items():
        g = system.groups[gid]
        if "cm" in g.params0:
            cm[idx] = np.asarray(g.params0["cm"], dtype=float)
        elif "cm" in g.kernel.static:
            cm[idx] = float(g.kernel.static["cm"])
    cm = np.where(cm > 0, cm, np.inf)
    return float(np.max(2.0 * np.abs(plan.d_axial) / (1e-3 * cm)))
