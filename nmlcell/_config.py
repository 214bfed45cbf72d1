"""Process-wide JAX set-up, applied once when nmlcell is imported.

* float64 is enabled (NEURON's precision; gradients in float32 were measured
  wrong). ``precision="float32"`` is a per-run option.
* XLA's small-while-loop byte threshold is raised so that a simulation's
  ``lax.scan`` body is compiled into one native loop even when it is large
  (forward and backward passes); see docs/performance.md. The flag is merged
  into the user's own ``XLA_FLAGS`` and only takes effect if nmlcell is
  imported before JAX initialises its CPU backend.
* The CPU is split into one XLA device per core so that batches of cells can
  be sharded over both cores.
* JAX's persistent compilation cache is enabled under the user cache folder
  (``NMLCELL_CACHE`` overrides; ``NMLCELL_CACHE=off`` disables it).
"""
from __future__ import annotations

import os
from pathlib import Path

_FLAGS = {
    "--xla_backend_extra_options": "xla_cpu_small_while_loop_byte_threshold=1000000000",
}


def cache_dir() -> Path | None:
    env = os.environ.get("NMLCELL_CACHE")
    if env and env.lower() in ("off", "0", "none", "false"):
        return None
    if env:
        p = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        p = Path(base) / "nmlcell"
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return p


def _merge_xla_flags() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    have = {f.split("=", 1)[0] for f in flags.split()}
    extra = []
    for k, v in _FLAGS.items():
        if k not in have:
            extra.append(f"{k}={v}")
    ncores = os.cpu_count() or 1
    if "--xla_force_host_platform_device_count" not in have and ncores > 1:
        extra.append(f"--xla_force_host_platform_device_count={min(ncores, 16)}")
    if extra:
        os.environ["XLA_FLAGS"] = (flags + " " + " ".join(extra)).strip()


_done = False


def setup_jax() -> None:
    """Configure JAX (idempotent). Called by nmlcell before its first JAX use."""
    global _done
    if _done:
        return
    _done = True
    _merge_xla_flags()
    import logging

    import jax

    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
    jax.config.update("jax_enable_x64", True)
    cd = cache_dir()
    if cd is not None:
        try:
            jax.config.update("jax_compilation_cache_dir", str(cd / "xla"))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        except Exception:  # older JAX without these options: run uncached
            pass


def read_cached(path: Path):
    """The object pickled at ``path`` by :func:`write_cached`, or None (absent
    or unreadable: the caller recomputes it)."""
    import pickle

    if not path.exists():
        return None
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # noqa: BLE001 - a stale or partial cache file is recomputed
        return None


def write_cached(path: Path, obj) -> None:
    """Pickle ``obj`` to ``path`` atomically (a temporary file renamed);
    a cache that cannot be written is skipped."""
    import pickle

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except Exception:  # noqa: BLE001
        pass
