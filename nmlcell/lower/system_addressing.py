"""Addressing a lowered model's quantities: LEMS paths (``pop[0]/a/b``) to
(group, instance, variable), the observer that evaluates them inside the
time loop, and the spike-emitting groups' layout. A mixin of
:class:`nmlcell.lower.system.LoweredModel`."""
from __future__ import annotations

import re

from ..errors import OptionError
from .events import attached


class Addressing:
    # -- addressing -------------------------------------------------------------
    def resolve(self, quantity: str):
        """LEMS path ('pop[0]/a/b' or 'pop/0/cell/a/b') -> (gid, index, name, Dim)."""
        q = quantity.strip()
        m = re.match(r"^(\w+)\[(\d+)\]/(.+)$", q) or re.match(r"^(\w+)/(\d+)/\w+/(.+)$", q)
        if m:
            gid, idx, rest = m.group(1), int(m.group(2)), m.group(3)
        else:
            parts = q.split("/", 1)
            if len(parts) == 2 and parts[0] in self.groups:
                gid, idx, rest = parts[0], 0, parts[1]
            elif len(self.groups) >= 1 and len(parts) == 1:
                gid, idx, rest = next(iter(self.groups)), 0, q
            else:
                raise OptionError(f"quantity '{quantity}' is not 'population[index]/path'")
        if gid not in self.groups:
            raise OptionError(f"quantity '{quantity}': no population '{gid}' "
                              f"(have {', '.join(self.groups)})")
        g = self.groups[gid]
        if idx >= g.size:
            raise OptionError(f"quantity '{quantity}': '{gid}' has {g.size} instance(s)")
        ex = g.mech.exposures
        head, _, tail = rest.partition("/")
        if rest in ex:
            name, dim = ex[rest]
        elif tail and head in self.groups and head != gid:
            # an input attached to this cell, addressed below it (pop[0]/pulseGen1/i)
            for l in self.links:
                if l.src == head and l.dst == gid and l.kind == "sum":
                    for si, di in l.pairs:
                        if di == idx:
                            sub = self.groups[head].mech.exposures
                            if tail in sub:
                                name, dim = sub[tail]
                                return head, si, name, dim
            raise OptionError(f"quantity '{quantity}': input '{head}' is not attached to {gid}[{idx}] "
                              f"or has no variable '{tail}'")
        else:
            hit = attached(self, gid, idx, head, tail)
            if hit is None:
                raise OptionError(f"quantity '{quantity}': '{rest}' is not a variable of "
                                  f"{g.mech.component_type} '{g.mech.name}'")
            return hit
        return gid, idx, self.plain(g, name), dim

    def observer(self, quantities):
        """A function (t, y, p) -> (n,) array of the quantities' values
        (internal units), plus the list of their Dims."""
        plan = [self.resolve(q) for q in quantities]
        dims = [d for *_x, d in plan]

        wanted = {}
        for gid, _idx, name, _d in plan:
            g = self.groups[gid]
            if not (name in g.state_index or name in g.params0 or name in g.kernel.static
                    or name in g.hoisted_derived):
                wanted.setdefault(gid, set()).add(name)

        def observe(t, y, p, before=None):
            """``before``: (t0, y0, dt), the state the step started from:
            DerivedVariables are then evaluated on it, as jNeuroML writes
            them (computed before the step's update); states from ``y``."""
            jnp = self._np()
            memo = {}
            td, yd = t, y
            if before is not None:
                td, yd, memo = before[0], before[1], {"dt": before[2]}
            for gid, names in wanted.items():  # one evaluation per group
                self._derived(td, yd, p, gid, memo, names)
            vals = []
            for gid, idx, name, _d in plan:
                derived = name in wanted.get(gid, ())
                v = self._value(td if derived else t, yd if derived else y, p, gid, name, memo)
                vals.append(jnp.asarray(v)[idx])
            if not vals:
                return jnp.zeros((0,))
            return jnp.stack(vals)

        return observe, dims

    def spike_layout(self):
        """[(gid, N)] of spike-emitting groups, in record order."""
        return [(gid, g.size) for gid, g in self.groups.items() if g.emits_spikes]
