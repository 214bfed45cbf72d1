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

import sympy as sp

from ..ir.expr import sym
from ..ir.mechanism import Assignment, Condition, OnEvent, State
from ..ir.units import NONE


class EventRouting:
    """Needs ``self._handlers`` ((id(node), port) -> (node, assignments,
    events, source)), ``self._nested_conds`` and ``self.conditions``."""

    def _handle(self, node, port, came_from=None, depth=0, later=None):
        """(assignments, events at the root) of an event arriving on
        ``node``'s ``port``: its own OnEvent, then each event it emits,
        relayed down to the children that handle events (a plasticity
        mechanism, a doubleSynapse's synapses) or up to the parent (a
        spike's event to its spikeArray). With ``later`` (a list), what
        reaches a child goes there instead (see :meth:`_route_events`)."""
        h = self._handlers.get((id(node), port))
        if h is None or depth > 8:
            return (), ()
        _n, assigns, events, src = h
        out, root_events = list(assigns), []
        for e in events:
            a, ev = self._emit(node, e, came_from, depth, later)
            out.extend(a)
            root_events.extend(ev)
        return tuple(out), tuple(root_events)

    def _emit(self, node, port, came_from, depth, later=None):
        out, root_events = [], []
        if node.parent is None:
            root_events.append(port)
        elif node.parent is not came_from and (id(node.parent), "in") in self._handlers:
            a, ev = self._handle(node.parent, "in", node, depth + 1, later)
            out.extend(a)
            root_events.extend(ev)
        for _slot, _cid, kid in node.kids:
            if isinstance(kid, tuple) or kid is came_from:
                continue
            if (id(kid), "in") in self._handlers:
                a, ev = self._handle(kid, "in", node, depth + 1)
                (out if later is None else later).extend(a)
                root_events.extend(ev)
        return out, root_events

    def _route_events(self, root):
        """Conditions with their routed handlers, and the root's OnEvents.

        An event a condition sends down to a child (a poissonFiringSynapse's
        or timedSynapticInput's spike to its synapse) reaches it in jLEMS
        after the child has advanced in that step (children advance before
        their parent): the child's handler takes effect from the next step.
        Such handlers become a second condition on a flag state
        ``<k>__pending``, tested before the others, so they run at the start
        of the next step's event phase; events sent up (a spike to its
        spikeArray) run at once."""
        deferred = []
        for node, test, a, ev, src, regime in self._nested_conds:
            if not ev:
                self.conditions.append(Condition(test, a, (), src, regime))
                continue
            extra, root_ev, later = [], [], []
            for e in ev:
                x, y = self._emit(node, e, None, 0, later)
                extra.extend(x)
                root_ev.extend(y)
            if later:
                flag = f"__pending{len(deferred)}"
                self.states.append(State(flag, NONE, "a relayed event is due at the next step", src))
                self.on_start.append(Assignment(flag, sp.Integer(0)))
                extra.append(Assignment(flag, sp.Integer(1)))
                deferred.append(Condition(sp.Gt(sym(flag), sp.Rational(1, 2)),
                                          tuple(later) + (Assignment(flag, sp.Integer(0)),), (), src, regime))
            self.conditions.append(Condition(test, tuple(a) + tuple(extra), tuple(dict.fromkeys(root_ev)),
                                             src, regime))
        self.conditions[:0] = deferred
        out = []
        for (nid, port), (node, _a, _e, src) in self._handlers.items():
            if node is root:
                a, ev = self._handle(root, port)
                out.append(OnEvent(port, a, tuple(dict.fromkeys(ev)), src))
        return tuple(out)
