"""Routing of LEMS events inside one flattened component tree (a mixin of
:class:`~nmlcell.importers.lems_flatten.Flattener`).

jLEMS delivers an event at once (an EventConnection without delay): a
child's ``EventOut`` runs its parent's ``OnEvent`` (a ``spike`` of a
``spikeArray``), a component's ``EventOut`` runs its children's (a
``blockingPlasticSynapse`` relays ``in`` to its plasticity mechanism, a
``doubleSynapse`` to its two synapses, a ``poissonFiringSynapse``'s spike
reaches its synapse). Here each chain is folded into the handler that
starts it: an OnCondition's assignments followed by those of every handler
it reaches, in that order; events that leave the root stay its events.
"""
from __future__ import annotations

from ..ir.mechanism import Condition, OnEvent


class EventRouting:
    """Needs ``self._handlers`` ((id(node), port) -> (node, assignments,
    events, source)), ``self._nested_conds`` and ``self.conditions``."""

    def _handle(self, node, port, came_from=None, depth=0):
        """(assignments, events at the root) of an event arriving on
        ``node``'s ``port``: its own OnEvent, then each event it emits,
        relayed down to the children that handle events (a plasticity
        mechanism, a doubleSynapse's synapses) or up to the parent (a
        spike's event to its spikeArray)."""
        h = self._handlers.get((id(node), port))
        if h is None or depth > 8:
            return (), ()
        _n, assigns, events, src = h
        out, root_events = list(assigns), []
        for e in events:
            a, ev = self._emit(node, e, came_from, depth)
            out.extend(a)
            root_events.extend(ev)
        return tuple(out), tuple(root_events)

    def _emit(self, node, port, came_from, depth):
        out, root_events = [], []
        if node.parent is None:
            root_events.append(port)
        elif node.parent is not came_from and (id(node.parent), "in") in self._handlers:
            a, ev = self._handle(node.parent, "in", node, depth + 1)
            out.extend(a)
            root_events.extend(ev)
        for _slot, _cid, kid in node.kids:
            if isinstance(kid, tuple) or kid is came_from:
                continue
            if (id(kid), "in") in self._handlers:
                a, ev = self._handle(kid, "in", node, depth + 1)
                out.extend(a)
                root_events.extend(ev)
        return out, root_events

    def _route_events(self, root):
        for node, test, a, ev, src, regime in self._nested_conds:
            if not ev:
                self.conditions.append(Condition(test, a, (), src, regime))
                continue
            extra, root_ev = [], []
            for e in ev:
                x, y = self._emit(node, e, None, 0)
                extra.extend(x)
                root_ev.extend(y)
            self.conditions.append(Condition(test, tuple(a) + tuple(extra), tuple(dict.fromkeys(root_ev)),
                                             src, regime))
        out = []
        for (nid, port), (node, _a, _e, src) in self._handlers.items():
            if node is root:
                a, ev = self._handle(root, port)
                out.append(OnEvent(port, a, tuple(dict.fromkeys(ev)), src))
        return tuple(out)
