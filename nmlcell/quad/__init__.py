"""Solvers: one open registry, one file per family (explicit, exponential, implicit)."""
from .registry import (Integrator as Integrator, all_integrators as all_integrators,
                       get_integrator as get_integrator, register_integrator as register_integrator,
                       unregister as unregister)
from ._system import System as System, FunctionSystem as FunctionSystem
