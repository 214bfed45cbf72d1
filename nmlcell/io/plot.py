"""Figures with matplotlib (imported only when plotting)."""
from __future__ import annotations

from pathlib import Path


def plot_results(res, path=None, show=False):
    import matplotlib

    if path is not None and not show:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    sim = res.ir.simulation
    displays = [d for d in (sim.displays if sim else ()) if any(l.quantity in res for l in d.lines)]
    raster = bool(res.spikes) and any(len(v) for v in res.spikes.values()) and len(res.spikes) > 1
    n = max(1, len(displays)) + (1 if raster else 0)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.6 * n), squeeze=False)
    axes = axes[:, 0]
    if displays:
        for ax, d in zip(axes, displays):
            for ln in d.lines:
                if ln.quantity not in res:
                    continue
                y = res.si(ln.quantity) / ln.scale
                x = res.t * 1e-3 / d.time_scale
                ax.plot(x, y, label=ln.id, color=ln.color if ln.color else None, lw=1)
            ax.set_title(d.title, fontsize=9)
            if d.xmin is not None and d.xmax is not None and d.xmax > d.xmin:
                ax.set_xlim(d.xmin, d.xmax)
            if d.ymin is not None and d.ymax is not None and d.ymax > d.ymin:
                ax.set_ylim(d.ymin, d.ymax)
            ax.legend(fontsize=7, loc="upper right")
    else:
        ax = axes[0]
        for q in res.quantities:
            if q.endswith("/v"):
                ax.plot(res.t, res[q], label=q, lw=1)
        ax.set_xlabel("t (ms)")
        ax.set_ylabel("v (mV)")
        ax.legend(fontsize=7)
    if raster:
        _raster(axes[-1], res.spikes)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    if show:
        plt.show()
    plt.close(fig)
    return path


def _raster(ax, spikes):
    """Spike raster: one row per cell in population order (the order of
    ``res.spikes``), one colour per population, labelled by population."""
    import numpy as np

    pops: dict[str, list] = {}
    for key, times in spikes.items():
        pops.setdefault(key.split("[", 1)[0], []).append(np.asarray(times))
    row, ticks, labels = 0, [], []
    for k, (pop, cells) in enumerate(pops.items()):
        xs = np.concatenate(cells) if cells else np.zeros(0)
        ys = np.concatenate([np.full(len(c), row + i) for i, c in enumerate(cells)]) if cells else np.zeros(0)
        ax.scatter(xs, ys, s=4, marker="|", color=f"C{k % 10}", label=pop)
        ticks.append(row + (len(cells) - 1) / 2)
        labels.append(pop)
        row += len(cells)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_ylim(-1, max(row, 1))
    ax.set_xlabel("t (ms)")
    ax.set_ylabel("cell")
    ax.set_title("spikes", fontsize=9)
