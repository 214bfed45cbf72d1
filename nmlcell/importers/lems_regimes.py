"""Regimes and event handlers of a LEMS component, for the
:class:`~nmlcell.importers.lems_flatten.Flattener` (a mixin): Regimes as one
discrete state holding the active regime's index, OnStart/OnCondition/OnEvent
handlers and their assignments (StateAssignment, Transition with the
target's OnEntry, EventOut)."""
from __future__ import annotations

import sympy as sp

from ..errors import ModelImportError
from ..ir.expr import sym
from ..ir.mechanism import Assignment, State
from ..ir.units import NONE


class RegimesAndHandlers:
    # -- regimes ------------------------------------------------------------
    def _regimes(self, node, dyn, src):
        """Regimes become one discrete state ``<prefix>regime`` holding the
        active regime's index (document order). Each regime's
        TimeDerivatives apply while it is active; its OnConditions are
        guarded by it; a Transition sets the index and runs the target's
        OnEntry. The initial regime is set at OnStart (its OnEntry is not
        run, as in jLEMS)."""
        regimes = list(dyn.regimes.values()) if hasattr(dyn.regimes, "values") else list(dyn.regimes)
        full = node.prefix + "regime"
        names = [r.name for r in regimes]
        node.names["regime"] = sym(full)
        node.regimes = {n: k for k, n in enumerate(names)}
        self.dims[full] = NONE
        self.states.append(State(full, NONE, "active Regime: " + ", ".join(
            f"{k} = {n}" for k, n in enumerate(names)), src))
        self._expose(node, "regime", full, NONE)
        # what a Regime changes (TimeDerivatives, assignments in its handlers)
        for r in regimes:
            changed = [td.variable for td in r.time_derivatives]
            for eh in r.event_handlers:
                changed += [a.variable for a in eh.actions if type(a).__name__ == "StateAssignment"]
            for v in changed:
                target = node.names.get(v)
                if target is not None:
                    self._regime_exposed.add(target.name)
        init = [r for r in regimes if str(getattr(r, "initial", "")).lower() in ("true", "1")]
        first = names.index(init[0].name) if init else 0
        self.on_start.insert(0, Assignment(full, sp.Integer(first)))
        self.regime_states[full] = first
        for k, r in enumerate(regimes):
            for what in ("state_variables", "derived_variables", "conditional_derived_variables",
                         "kinetic_schemes"):
                if len(getattr(r, what, ()) or ()):
                    self.unsupported.append(f"{what.replace('_', ' ')} inside Regime '{r.name}' of "
                                            f"{node.fc.type} '{node.fc.id}' ({src})")
            for pos, td in enumerate(r.time_derivatives):
                self._pending.append(lambda n=node, td=td, k=k, pos=pos:
                                     self._time_derivative(n, td, src, (full, k), pos))
            for eh in r.event_handlers:
                if type(eh).__name__ == "OnEntry":
                    node.on_entry[r.name] = eh.actions
                else:
                    self._pending.append(lambda n=node, eh=eh, k=k: self._event_handler(n, eh, src, (full, k)))

    def _merge_regime_derivatives(self):
        # order (jNeuroML updates a component's states one after the other,
        # in TimeDerivative order): the initial Regime's order first
        def rank(name):
            cases = self._regime_derivs[name]
            return min((k != self.regime_states.get(reg), pos) for (reg, k), _e, pos in cases)

        for name in sorted(self._regime_derivs, key=rank):
            self.sequential.append(name)
            cases = self._regime_derivs[name]
            rest = self.derivs.get(name, sp.Integer(0))
            self.derivs[name] = sp.Piecewise(*[(e, sp.Eq(sym(reg), k)) for (reg, k), e, _p in cases],
                                             (rest, True))

    def _expose_regime_states(self):
        """jLEMS advances a component with Regimes in two parts: its main
        Dynamics (DerivedVariables, TimeDerivatives, OnConditions), after
        which it copies its exposures, then the active Regime (its
        TimeDerivatives, OnConditions, Transitions and OnEntry), after which
        it does not. What a Regime changes (``v`` of an ``iafRefCell``,
        ``adExIaFCell`` or PyNN cell) is therefore exposed as it was before
        the step: recorded values, a synapse's ``v``, a parent's select all
        read the previous step's value, while the cell itself, its spikes and
        its conditions use the new one. Here such an exposure names the
        delayed copy ``x@1`` (kept by ``lems_euler``; ``x`` under the other
        solvers, whose lowering has no copies). Measured: ``Ex21`` (an
        ``iafRefCell`` reset and ``v`` within 1e-10 V of jNeuroML), ``Ex14``
        (an ``expCondSynapse`` after an ``EIF_cond_exp_isfa_ista`` spike
        jumps on jNeuroML's row)."""
        for x in sorted(self._regime_exposed):
            if (x, 1) not in self.lags:
                self.lags.append((x, 1))
            for key, (full, d) in list(self.exposures.items()):
                if full == x:
                    self.exposures[key] = (f"{x}@1", d)

    def _assignments(self, node, actions, src, what):
        """(assignments, events); a Transition adds the regime index and the
        target's OnEntry assignments."""
        out, events = [], []
        for a in actions:
            tname = type(a).__name__
            if tname == "Transition":
                regimes = node.regimes
                if a.regime not in regimes:
                    raise ModelImportError(f"Transition to unknown regime '{a.regime}' (have "
                                           f"{', '.join(regimes) or 'none'})", file=src.file, line=src.line,
                                           element=node.fc.type)
                # the target's OnEntry runs at once, from the same pre-transition values
                out.append(Assignment(node.prefix + "regime", sp.Integer(regimes[a.regime])))
                entry, ev = self._assignments(node, node.on_entry.get(a.regime, ()), src,
                                              f"OnEntry of {a.regime}")
                out.extend(entry)
                events.extend(ev)
            elif tname == "StateAssignment":
                target = node.lookup(a.variable)
                if target is None:
                    raise ModelImportError(f"StateAssignment to undefined variable '{a.variable}'",
                                           file=src.file, line=src.line, element=node.fc.type)
                out.append(Assignment(target.name, self._parse(node, a.value, what, src)))
            elif tname == "EventOut":
                events.append(a.port)
            else:
                self.unsupported.append(f"{tname} in {node.fc.type} '{node.fc.id}' ({src})")
        return tuple(out), tuple(events)

    def _event_handler(self, node, eh, src, regime=None):
        tname = type(eh).__name__
        if tname == "OnStart":
            a, _ = self._assignments(node, eh.actions, src, "OnStart")
            self.on_start.extend(a)
        elif tname == "OnCondition":
            test = self._parse(node, eh.test, "OnCondition test", src)
            a, ev = self._assignments(node, eh.actions, src, "OnCondition")
            # events are routed once every handler is known: to the parent's
            # OnEvent (a spikeArray's spike), to children's (a
            # poissonFiringSynapse's synapse), out at the root
            self._nested_conds.append((node, test, a, ev, src, regime))
        elif tname == "OnEvent":
            if regime is not None:
                self.unsupported.append(f"OnEvent inside a Regime of {node.fc.type} '{node.fc.id}' ({src})")
                return
            a, ev = self._assignments(node, eh.actions, src, f"OnEvent {eh.port}")
            self._handlers[(id(node), eh.port)] = (node, a, ev, src)
        else:
            self.unsupported.append(f"{tname} in {node.fc.type} '{node.fc.id}' ({src})")
