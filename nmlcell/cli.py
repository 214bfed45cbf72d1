"""Command line: ``nmlcell run | info | solvers``.

Errors a user can cause print one line and exit with code 2 (``--debug``
shows the traceback). Heavy imports happen only when needed."""
from __future__ import annotations

import argparse
import sys
import time


def _parser():
    p = argparse.ArgumentParser(prog="nmlcell", description="Run NeuroML2/LEMS neuron models on JAX.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="simulate a LEMS simulation file or a NeuroML2 .nml file")
    r.add_argument("model", help="LEMS .xml file (or a .nml file with one cell/network)")
    r.add_argument("--solver", default=None, help="solver name or alias (see `nmlcell solvers`)")
    r.add_argument("--dt", type=float, default=None, help="time step in ms (default: the LEMS <Simulation>'s)")
    r.add_argument("--duration", type=float, default=None, help="simulated time in ms")
    r.add_argument("--out", default=None, help="folder for the output files (default: next to the LEMS file)")
    r.add_argument("--plot", default=None, metavar="PNG", help="draw the LEMS <Display>s into this image")
    r.add_argument("--precision", default="float64", help="float64 (default) or float32")
    r.add_argument("--quiet", action="store_true", help="print nothing but errors")
    r.add_argument("--debug", action="store_true", help="show tracebacks")
    i = sub.add_parser("info", help="print what nmlcell imported from a model (LEMS, .nml or .mod file)")
    i.add_argument("model")
    i.add_argument("--debug", action="store_true")
    s = sub.add_parser("solvers", help="list the registered solvers")
    s.add_argument("--debug", action="store_true")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        return {"run": _run, "info": _info, "solvers": _solvers}[args.cmd](args)
    except KeyboardInterrupt:
        print("nmlcell: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nmlcell info X | head`
        try:
            sys.stdout = open(__import__("os").devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as e:  # noqa: BLE001
        from .errors import NmlcellError

        if debug:
            raise
        if isinstance(e, NmlcellError):
            print(f"nmlcell: error: {e}", file=sys.stderr)
            return 2
        if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError)):
            print(f"nmlcell: error: {e}", file=sys.stderr)
            return 2
        print(f"nmlcell: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
              f"(run with --debug for the traceback)", file=sys.stderr)
        return 1


def _solvers(args) -> int:
    from .quad.registry import all_integrators, cable_solvers

    cable = set(cable_solvers())
    rows = [("name", "aliases", "family", "order", "cables", "description")]
    for it in sorted(all_integrators(), key=lambda x: (x.category, x.order, x.name)):
        rows.append((it.name, ",".join(it.aliases) or "-", it.category, str(it.order),
                     "yes" if it.name in cable else "-", it.description))
    w = [max(len(r[k]) for r in rows) for k in range(5)]
    for r in rows:
        print("  ".join(r[k].ljust(w[k]) for k in range(5)) + "  " + r[5])
    return 0


def _info(args) -> int:
    from pathlib import Path

    if Path(args.model).suffix.lower() in (".swc", ".asc"):
        from .info import describe_morphology

        if not Path(args.model).is_file():
            from .errors import ModelImportError

            raise ModelImportError("file not found", file=args.model)
        print(describe_morphology(args.model))
        return 0
    if Path(args.model).suffix.lower() == ".mod":
        from .info import describe_mod

        if not Path(args.model).is_file():
            from .errors import ModelImportError

            raise ModelImportError("file not found", file=args.model)
        print(describe_mod(args.model))
        return 0
    from .model import load

    m = load(args.model, duration=1.0, dt=0.01, strict=False)
    print(m.info())
    return 0


def _run(args) -> int:
    from .errors import OptionError

    t_start = time.perf_counter()
    if args.precision not in ("float32", "float64"):
        raise OptionError(f"--precision must be float32 or float64 (got '{args.precision}')", element="--precision")
    for name in ("dt", "duration"):
        val = getattr(args, name)
        if val is not None and not val > 0:
            raise OptionError(f"--{name} must be a positive number of ms (got {val})", element=f"--{name}")
    from pathlib import Path

    from .model import load

    model = load(args.model, duration=args.duration, dt=args.dt)
    if args.solver:
        model.solver = args.solver
    sim = model.ir.simulation
    duration = args.duration if args.duration is not None else sim.duration
    dt = args.dt if args.dt is not None else sim.dt
    from .io.lems_output import check_writable

    check_writable(sim, args.out, Path(model.ir.file).parent)
    if args.plot:
        pp = Path(args.plot)
        if pp.exists() and pp.is_dir():
            raise OptionError(f"--plot '{args.plot}' is a folder; give an image file name", element="--plot")
    if not args.quiet:
        print(f"nmlcell {_version()} | model {Path(model.ir.file).name} ({model.ir.name})")
        print(f"  cells {model.n_cells}, compartments {model.n_compartments}, states {model.n_states}, "
              f"solver {model.solver}, dt {dt:g} ms, duration {duration:g} ms, precision {args.precision}")
    res = model.run(duration=duration, dt=dt, precision=args.precision, progress=None if not args.quiet else False)
    written = res.write(args.out)
    if args.plot:
        res.plot(args.plot)
        written.append(Path(args.plot))
    if not args.quiet:
        counts = res.spike_count()
        if counts:
            shown = ", ".join(f"{k}: {v}" for k, v in list(counts.items())[:8])
            more = f" (+{len(counts) - 8} cells)" if len(counts) > 8 else ""
            print(f"  spikes {sum(counts.values())} ({shown}{more})")
        print(f"  simulated {duration:g} ms in {res.wall_time:.3f} s wall "
              f"({time.perf_counter() - t_start:.2f} s in all)")
        for w in written:
            print(f"  wrote {w}")
    return 0


def _version():
    from . import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
