"""nmlcell: published neuron models (NeuroML2/LEMS, NMODL) on JAX.

    import nmlcell
    model = nmlcell.load("LEMS_HH.xml")
    model.solver = "rk4"
    res = model.run()
"""
from __future__ import annotations

from ._config import setup_jax as _setup_jax

_setup_jax()

from .errors import (ModelImportError as ModelImportError, NmlcellError as NmlcellError,  # noqa: E402
                     OptionError as OptionError, SimulationError as SimulationError,
                     SolverError as SolverError, UnitError as UnitError,
                     UnsupportedError as UnsupportedError)
from .model import Model as Model, load as load  # noqa: E402
from .quad.registry import (all_integrators as all_integrators, get_integrator as get_integrator,  # noqa: E402
                            register_integrator as register_integrator, unregister as unregister)
from .results import Results as Results  # noqa: E402
from .cell import Cell as Cell, load_mod as load_mod  # noqa: E402
from .point_process import IClamp as IClamp, PointProcess as PointProcess, SEClamp as SEClamp  # noqa: E402
from .network import NetCon as NetCon, NetStim as NetStim, Network as Network  # noqa: E402
from .vecstim import VecStim as VecStim  # noqa: E402
from .importers.morphology import load_morphology as load_morphology  # noqa: E402

__version__ = "0.1.0"


def odeint(f=None, **kw):
    """Integrate a plain Python ODE function with any registered solver
    (see :func:`nmlcell.quad.odeint.odeint`)."""
    from .quad.odeint import odeint as _odeint

    return _odeint(f, **kw)
