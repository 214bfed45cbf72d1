"""Results of a run: time, traces addressed by LEMS path, spike times."""
from __future__ import annotations

import numpy as np

from .errors import OptionError
from .ir.units import display_unit


class Results:
    """``res.t`` (ms), ``res["pop[0]/v"]`` (NEURON units: mV, nA, mM, ...),
    ``res.spikes`` ({"pop[i]": spike times in ms}), ``res.write(dir)``,
    ``res.plot(path)``."""

    def __init__(self, *, t, quantities, records, dims, spikes, model_ir, solver, dt, precision, wall,
                 source_dir):
        self.t = np.asarray(t)
        self._q = list(quantities)
        self._index = {q: k for k, q in enumerate(self._q)}
        self._raw = records
        self._dims = dims
        self.spikes = spikes
        self.ir = model_ir
        self.solver = solver
        self.dt = dt
        self.precision = precision
        self.wall_time = wall
        self.source_dir = source_dir

    @property
    def quantities(self) -> list[str]:
        return list(self._q)

    def _col(self, q):
        if q not in self._index:
            raise OptionError(f"'{q}' was not recorded; pass record=['{q}', ...] to run() "
                              f"(recorded: {', '.join(self._q[:6])}{' ...' if len(self._q) > 6 else ''})")
        return self._index[q]

    def __getitem__(self, q: str) -> np.ndarray:
        k = self._col(q)
        _u, fac = display_unit(self._dims[k])
        return self._raw[:, k] * fac

    def unit(self, q: str) -> str:
        k = self._col(q)
        if getattr(self, "_units", None) and q in self._units:
            return self._units[q]
        return display_unit(self._dims[k])[0]

    def rename(self, names: dict) -> None:
        """Address quantities by other names (``{old: new}``)."""
        self._q = [names.get(q, q) for q in self._q]
        self._index = {q: k for k, q in enumerate(self._q)}

    def set_units(self, units: dict) -> None:
        """Unit names of quantities recorded in NEURON's units already (a
        NEURON-style cell's variables)."""
        self._units = dict(units)

    def si(self, q: str) -> np.ndarray:
        """The trace in SI units (as LEMS output files hold it)."""
        k = self._col(q)
        return self._raw[:, k] * self._dims[k].scale

    def __contains__(self, q):
        return q in self._index

    def spike_count(self) -> dict:
        return {k: len(v) for k, v in self.spikes.items()}

    def write(self, out_dir=None):
        """Write every <OutputFile> and <EventOutputFile> of the LEMS file
        (names relative to ``out_dir``, default the LEMS file's folder).
        Returns the list of paths written."""
        from .io.lems_output import write_outputs

        return write_outputs(self, out_dir)

    def plot(self, path=None, show=False):
        """Draw the LEMS <Display>s (or the recorded voltages) with matplotlib."""
        from .io.plot import plot_results

        return plot_results(self, path, show=show)

    def __repr__(self):
        return (f"Results({len(self.t) - 1} steps of {self.dt} ms, {len(self._q)} quantities, "
                f"{sum(len(v) for v in self.spikes.values())} spikes)")
