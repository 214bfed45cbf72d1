"""``odeint``: any registered solver on a plain Python function, BrainPy style.

    from nmlcell.quad.odeint import odeint

    def fhn(V, w, t, Iext, a, b, tau):          # states, then t, then parameters
        dw = (V + a - b * w) / tau
        dV = V - V * V * V / 3 - w + Iext
        return dV, dw

    intg = odeint(fhn, method="rk4", dt=0.01)
    V, w = intg(V, w, t, 0.5, 0.7, 0.8, 12.5)   # one step, t -> t + dt
    ts, (Vs, ws) = intg.solve(-1.0, 1.0, t1=100.0, params=(0.5, 0.7, 0.8, 12.5))

or as a decorator, ``@odeint(method="exp_euler", dt=0.01)``.

The arguments of ``f`` before the one named ``t`` are the state variables,
the ones after it are parameters (passed through untouched; keywords work
too). ``f`` returns one derivative per state, in order (a bare array when
there is one state).

Layout. The solvers step a pytree of ``(N, k)`` leaves (``_system.py``).
With several states (``f(V, w, t, ...)``), the states are broadcast to one
shape ``S`` and element ``n`` of every state forms instance ``n``: elements
are taken to be independent (``coupled=False``), so Jacobian blocks are
``k x k`` per element and a thousand-neuron ``V`` costs a thousand 2x2
solves, not one 2000x2000 one. A single array state (``f(y, t, ...)``) is
taken to be one coupled system (``coupled=True``): the whole array is one
instance and the Jacobian is dense. Pass ``coupled=`` to override either
guess; a ``coupled=False`` f whose elements do interact still integrates
correctly with the explicit methods, while the Jacobian-based ones then
treat the interaction as fixed over a step (order 1 at most).

Everything is pure ``jax.numpy``: the integrator can be ``jit``-ed,
``vmap``-ed and differentiated, and stepped inside ``lax.scan``.
"""
from __future__ import annotations

import inspect
import math
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from ..errors import OptionError
from ._system import FunctionSystem
from .registry import Integrator, get_integrator

DEFAULT_DT = 0.1
"""The step used when neither ``odeint(dt=...)`` nor the call gives one (BrainPy's default)."""

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class _DenseSystem(FunctionSystem):
    """One instance holding the whole state: the Jacobian is one dense block,
    computed with ``jacfwd`` (vectorised tangents, not a Python loop)."""

    def jac(self, t, y, p):
        def g(v):
            out = self._fn(t, v[None, :], p)[0]
            return out, out

        J, dy = jax.jacfwd(g, has_aux=True)(y[0])
        return dy[None, :], J[None, :, :]


def _concrete_float(x):
    """``float(x)`` if ``x`` is known at trace time, else None."""
    try:
        return float(x)
    except Exception:  # noqa: BLE001  a tracer refuses in one of several ways
        return None


class ODEIntegrator:
    """One step of a registered solver on a user's ``f(*states, t, *params)``.

    Attributes: ``f`` (the user's function), ``method`` (the registry's
    :class:`~nmlcell.quad.registry.Integrator`), ``dt``, ``variables`` (the
    state names), ``parameters`` (the names after ``t``)."""

    def __init__(self, f: Callable, *, method="rk4", dt=None, stiffness_dt=None, coupled=None,
                 name=None):
        if not callable(f):
            raise OptionError(f"odeint needs a function, got {type(f).__name__}")
        self.f = f
        self.method: Integrator = get_integrator(method)
        if dt is not None and not (float(dt) > 0.0):
            raise OptionError(f"dt must be positive, got {dt}")
        self.dt = float(dt) if dt is not None else DEFAULT_DT
        self.stiffness_dt = stiffness_dt
        self.name = name or getattr(f, "__name__", "f")
        try:
            self._sig = inspect.signature(f)
        except (TypeError, ValueError) as e:
            raise OptionError(f"odeint cannot read the signature of {self.name}: {e}") from None
        params = list(self._sig.parameters.values())
        names = [p.name for p in params]
        if "t" not in names:
            raise OptionError(f"{self.name}{self._sig}: odeint needs an argument named 't' "
                              "(states before it, parameters after it)")
        it = names.index("t")
        if it == 0:
            raise OptionError(f"{self.name}{self._sig}: no state argument before 't'")
        if any(p.kind not in _POSITIONAL for p in params[:it + 1]):
            raise OptionError(f"{self.name}{self._sig}: the states and 't' must be plain "
                              "positional arguments")
        self.variables = tuple(names[:it])
        self.parameters = tuple(names[it + 1:])
        self.coupled = (len(self.variables) == 1) if coupled is None else bool(coupled)
        self.__doc__ = getattr(f, "__doc__", None)
        self.__name__ = self.name
        self.__wrapped__ = f
        self._solve_jit = jax.jit(self._solve_impl, static_argnames=("n", "record"))

    def __repr__(self):
        return (f"ODEIntegrator({self.name}{self._sig}, method='{self.method.name}', "
                f"dt={self.dt:g})")

    # ------------------------------------------------------------------ calling

    def _split(self, args, kwargs):
        """(states, t, params, kw) from a call that mirrors ``f``'s signature."""
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError as e:
            raise OptionError(f"{self.name}{self._sig}: {e}") from None
        bound.apply_defaults()
        pos, kw = bound.args, bound.kwargs
        k = len(self.variables)
        return tuple(pos[:k]), pos[k], tuple(pos[k + 1:]), dict(kw)

    def __call__(self, *args, dt=None, **kwargs):
        """Advance the states by one step: ``intg(*states, t, *params, dt=None)``.

        Returns the new state (one array for one state variable, else a tuple
        in the order of ``f``'s arguments), broadcast to the states' common
        shape."""
        states, t, params, kw = self._split(args, kwargs)
        out = self._step(states, t, params, kw, self.dt if dt is None else dt)
        return out[0] if len(out) == 1 else out

    def _check(self, system, dt) -> None:
        dtf = _concrete_float(dt)
        if dtf is None:
            return
        if not dtf > 0.0:
            raise OptionError(f"dt must be positive, got {dtf}")
        system.dt = dtf
        self.method.check(system)

    def _layout(self, states, t, params, kw):
        """Common shape ``S`` and dtype of the states (and of ``f``'s outputs)."""
        states = [jnp.asarray(s) for s in states]
        dtype = jnp.result_type(*states)
        if not jnp.issubdtype(dtype, jnp.inexact):
            dtype = jnp.result_type(float)
        outs = jax.eval_shape(lambda *xs: self._call_f(xs, t, params, kw), *states)
        shape = jnp.broadcast_shapes(*(s.shape for s in states), *(o.shape for o in outs))
        return shape, dtype

    def _call_f(self, xs, t, params, kw):
        out = self.f(*xs, t, *params, **kw)
        k = len(self.variables)
        if k == 1 and not isinstance(out, (tuple, list)):
            out = (out,)
        if not isinstance(out, (tuple, list)) or len(out) != k:
            got = len(out) if isinstance(out, (tuple, list)) else 1
            raise OptionError(f"{self.name} must return {k} derivative(s) "
                              f"(one per state {', '.join(self.variables)}), got {got}")
        return tuple(jnp.asarray(o) for o in out)

    def _step(self, states, t, params, kw, dt):
        shape, dtype = self._layout(states, t, params, kw)
        size = math.prod(shape)
        k = len(states)

        if self.coupled:
            def pack(xs):
                return jnp.concatenate([jnp.broadcast_to(x, shape).astype(dtype).reshape(-1)
                                        for x in xs])[None, :]

            def unpack(Y):
                return [Y[0, j * size:(j + 1) * size].reshape(shape) for j in range(k)]
        else:
            def pack(xs):
                return jnp.stack([jnp.broadcast_to(x, shape).astype(dtype).reshape(-1)
                                  for x in xs], axis=-1)

            def unpack(Y):
                return [Y[:, j].reshape(shape) for j in range(k)]

        def fn(tt, Y, p):
            pp, kk = p
            return pack(self._call_f(unpack(Y), tt, pp, kk))

        cls = _DenseSystem if self.coupled else FunctionSystem
        system = cls(fn, stiffness_dt=self.stiffness_dt)
        self._check(system, dt)
        Y = pack([jnp.asarray(s) for s in states])
        Y1 = self.method.step(system, t, Y, dt, (params, kw))
        return tuple(unpack(Y1))

    # ------------------------------------------------------------------ trajectories

    def _solve_impl(self, ys, t0, dt, params, kw, *, n, record):
        ys = tuple(jnp.asarray(y) for y in ys)
        # the state shape after one step is fixed (broadcast with f's outputs)
        shape, dtype = self._layout(ys, t0, params, kw)
        ys = tuple(jnp.broadcast_to(y, shape).astype(dtype) for y in ys)

        def body(carry, i):
            t = t0 + i * dt
            new = self._step(carry, t, params, kw, dt)
            return new, (new if record else None)

        last, traj = lax.scan(body, ys, jnp.arange(n))
        if not record:
            return last
        return tuple(jnp.concatenate([y[None], tr], axis=0) for y, tr in zip(ys, traj))

    def solve(self, *y0, t0=0.0, t1=None, params=(), dt=None, record=True, n_steps=None):
        """Integrate from ``t0`` to ``t1`` with ``lax.scan`` (jit-compiled).

        ``y0``: one initial value per state. ``params``: the arguments after
        ``t``, a tuple (positional) or a dict (by name). The grid is
        ``t0 + i dt`` for ``i = 0 .. n`` with ``n = round((t1 - t0)/dt)`` (or
        ``n_steps``). Returns ``(ts, traj)``: ``ts`` of shape ``(n+1,)`` and
        ``traj`` one array of shape ``(n+1, *S)`` per state (a bare array for
        one state); with ``record=False``, ``(t_end, final_state)``."""
        if len(y0) != len(self.variables):
            raise OptionError(f"{self.name}: solve needs {len(self.variables)} initial "
                              f"value(s) ({', '.join(self.variables)}), got {len(y0)}")
        dt = self.dt if dt is None else dt
        dtf = _concrete_float(dt)
        if dtf is not None and not dtf > 0.0:
            raise OptionError(f"dt must be positive, got {dtf}")
        if n_steps is None:
            if t1 is None:
                raise OptionError("solve needs t1 (or n_steps)")
            if dtf is None:
                raise OptionError("solve needs a concrete dt to count steps; pass n_steps")
            n = int(round((float(t1) - float(t0)) / dtf))
        else:
            n = int(n_steps)
        if n < 0:
            raise OptionError(f"t1={t1} is before t0={t0}")
        if isinstance(params, dict):
            pos, kw = (), dict(params)
        else:
            pos, kw = tuple(params), {}
        # resolve defaults / keyword placement against f's signature once
        states, _, pos, kw = self._split(tuple(y0) + (t0,) + pos, kw)
        if dtf is not None and self.stiffness_dt is not None:
            probe = FunctionSystem(lambda t, y, p: y, stiffness_dt=self.stiffness_dt)
            self._check(probe, dtf)
        out = self._solve_jit(states, t0, dt, pos, kw, n=n, record=record)
        ts = t0 + dt * jnp.arange(n + 1)
        if not record:
            return ts[-1], (out[0] if len(out) == 1 else out)
        return ts, (out[0] if len(out) == 1 else out)


def odeint(f: Callable | None = None, *, method="rk4", dt=None, stiffness_dt=None, coupled=None,
           name=None):
    """Make a one-step integrator of ``f`` with a registered solver (BrainPy's ``bp.odeint``).

    ``odeint(f, method="rk4", dt=0.01)`` or ``@odeint(method="rk4")``. Any
    name from :func:`nmlcell.quad.all_integrators` (or an alias) is a valid
    ``method``; an unknown one raises :class:`~nmlcell.errors.SolverError`
    with the nearest name. ``dt`` is the default step (``DEFAULT_DT`` if
    None; each call may pass its own ``dt=``). ``stiffness_dt``, if given, is
    forward Euler's stability limit for ``f``: explicit methods then refuse
    a dt beyond their stability region (see ``explicit.py``). ``coupled``:
    see the module docstring."""
    if f is None:
        return lambda g: ODEIntegrator(g, method=method, dt=dt, stiffness_dt=stiffness_dt,
                                       coupled=coupled, name=name)
    return ODEIntegrator(f, method=method, dt=dt, stiffness_dt=stiffness_dt, coupled=coupled,
                         name=name)


__all__ = ["odeint", "ODEIntegrator", "DEFAULT_DT"]
