"""The run loop's per-step divergence test (nmlcell.run._all_finite): per
column on a CPU, one reduction over every column elsewhere (both tried
here), true exactly when none holds a NaN or an infinity (a huge finite
value is finite)."""
from __future__ import annotations

import numpy as np
import pytest

import nmlcell  # noqa: F401  (JAX configured before use)
from nmlcell.run import _all_finite


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite(bad, backend, monkeypatch):
    import jax
    import jax.numpy as jnp

    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    ok = [jnp.full(5, 1.0), jnp.asarray([1e308, -1e308]), jnp.arange(3), jnp.zeros(4, jnp.float32)]
    assert bool(_all_finite(ok))
    for k in (0, 1, 3):
        cols = list(ok)
        cols[k] = cols[k].at[-1].set(bad)
        assert not bool(_all_finite(cols)), (k, bad)
    assert bool(_all_finite([]))
