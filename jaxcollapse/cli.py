"""The `jaxcollapse` command line (SPEC §6): argument parsing and printing only."""

import argparse
import math
import os
import sys
import time

from jaxcollapse.config import check_writable_file, either
from jaxcollapse.workflows import WORKFLOWS


def _bandwidth(text: str):
    """--bandwidth: "scott" or a number (the family checks that it is > 0)."""
    if text == "scott":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number > 0 or scott; got {text!r}"
        ) from None


# Family settings as flags: flag -> (dataclass field, type, help). A flag is
# accepted only with a family that has that field.
FAMILY_FLAGS = {
    "--dim": ("dim", int, "dimension d (gaussian, kde, linreg)"),
    "--ddof": ("ddof", int, "gaussian covariance divisor n - ddof: 0 or 1"),
    "--bandwidth": ("bandwidth", _bandwidth, "kde bandwidth h > 0, or scott"),
    "--truth": (
        "truth",
        str,
        "kde truth: normal, moons, circles, blobs; gmm: mixture or those three",
    ),
    "--truth-noise": ("truth_noise", float, "noise sd of the named 2-D truths"),
    "--factor": ("factor", float, "circles: inner radius"),
    "--components": ("components", int, "gmm components k"),
    "--em-steps": ("em_steps", int, "gmm EM steps per fit"),
    "--noise": ("noise", float, "linreg noise sd s"),
    "--categories": ("categories", int, "categorical K"),
    "--smoothing": ("smoothing", float, "categorical additive smoothing alpha"),
    "--zipf": ("zipf", float, "Zipf exponent of the truth (categorical, bigram)"),
    "--vocab": ("vocab", int, "bigram vocabulary V"),
    "--seq-len": ("seq_len", int, "bigram sequence length"),
    "--train-steps": ("train_steps", int, "bigram Adam steps per generation"),
    "--learning-rate": ("learning_rate", float, "bigram Adam learning rate"),
    "--init": ("init", str, "bigram: finetune or scratch"),
}


def _families_help() -> str:
    """The epilog of `run --help`: every family with its settings and defaults."""
    import dataclasses

    from jaxcollapse.models import FAMILIES

    flag_of = {field: flag for flag, (field, _, _) in FAMILY_FLAGS.items()}
    lines = ["model families (SPEC §2) and their settings (defaults):"]
    for name, cls in FAMILIES.items():
        fields = [
            f"{flag_of.get(f.name, f.name)} {f.default}"
            for f in dataclasses.fields(cls)
        ]
        exact = " [exact fast path]" if getattr(cls, "has_exact_path", False) else ""
        lines.append(f"  {name:<12}  {', '.join(fields)}{exact}")
    lines += [
        "workflows (SPEC §4): replace, accumulate, accumulate-subsample, augment,",
        "  fresh [--real-weight L], mix --real-weight L",
        "modifier: --verify truth|model --keep-fraction RHO (best n of n/RHO)",
    ]
    return "\n".join(lines) + "\n"


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit code 2."""

    def error(self, message):
        raise UsageError(message)


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxcollapse",
        description="Self-consuming generative "
        "chains at scale, with closed-form theory beside the simulation.",
    )
    parser.add_argument("--version", action="store_true", help="print the version")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = sub.add_parser(
        "run",
        help="simulate chains of one setting and print simulation beside theory",
        epilog=_families_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--model", default="gaussian", help="model family (see below)")
    run.add_argument("--workflow", default="replace", help=", ".join(WORKFLOWS))
    run.add_argument("--num-samples", type=int, default=100, help="n per generation")
    run.add_argument("--generations", type=int, default=100, help="T")
    run.add_argument("--chains", type=int, default=1000, help="independent chains")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--num-real", type=int, default=None, help="real points (=n)")
    run.add_argument("--num-test", type=int, default=500, help="held-out real points")
    run.add_argument("--temperature", type=float, default=1.0, help="sampling tau")
    run.add_argument(
        "--real-weight", type=float, default=None, help="lambda in [0, 1] (fresh, mix)"
    )
    for flag, (_, kind, text) in FAMILY_FLAGS.items():
        run.add_argument(flag, type=kind, default=None, help=text)
    run.add_argument(
        "--verify",
        default=None,
        choices=("truth", "model"),
        help="keep the best n of ceil(n / keep-fraction) candidates by this "
        "log-density",
    )
    run.add_argument(
        "--keep-fraction", type=float, default=None, help="verify: rho in (0, 1]"
    )
    run.add_argument(
        "--exact-path",
        default="auto",
        choices=("auto", "on", "off"),
        help="sufficient-statistic fast path (auto: wherever exact)",
    )
    run.add_argument("--chunk-size", type=int, default=None, help="chains per chunk")
    run.add_argument(
        "--trajectories",
        type=int,
        default=0,
        help="keep per-chain paths of the first K chains in the JSON",
    )
    run.add_argument("--metrics", default=None, help="comma-separated metrics to show")
    run.add_argument("--json", default=None, metavar="PATH", help="write results")
    run.add_argument(
        "--checkpoint",
        default=None,
        metavar="DIR",
        help="save the run's state in DIR as it goes; run the same command again "
        "to resume after a stop (results are bit-identical)",
    )
    run.add_argument(
        "--checkpoint-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="least time between checkpoint saves (default 60; 0: every segment)",
    )
    run.add_argument("--x64", action="store_true", help="compute in float64")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    dist = run.add_argument_group(
        "several processes (hosts)",
        "start the same command once per process with these three flags (JAX's "
        "distributed runtime); chains are sharded over every device of every "
        "process and process 0 prints and writes the results",
    )
    dist.add_argument("--coordinator", metavar="HOST:PORT", default=None)
    dist.add_argument("--num-processes", type=int, default=None)
    dist.add_argument("--process-id", type=int, default=None)
    sweep = sub.add_parser(
        "sweep",
        help="run a grid of settings (SPEC §7) into a resumable Parquet store",
        description="Run the Cartesian product of SWEEP.toml's [grid] over its "
        "[base] settings; every finished point lands in STORE_DIR (a Parquet "
        "dataset plus each point's JSON). Re-running skips finished points and "
        "resumes an interrupted one.",
    )
    sweep.add_argument("spec", metavar="SWEEP.toml")
    sweep.add_argument("--out", required=True, metavar="STORE_DIR")
    sweep.add_argument(
        "--checkpoint-interval", type=float, default=60.0, metavar="SECONDS"
    )
    sweep.add_argument("--x64", action="store_true", help="compute in float64")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    check = sub.add_parser(
        "verify",
        help="every closed form in jaxcollapse/theory/ against simulation",
        description="Run every (family, workflow, metric, generation) case that "
        "has a closed form and print one row per case: theory, simulated mean "
        "± sem, z-score and pass/fail at a family-wise false-failure rate "
        "(Bonferroni over all rows). Exit code 1 if any case fails.",
    )
    level = check.add_mutually_exclusive_group()
    level.add_argument(
        "--quick",
        dest="level",
        action="store_const",
        const="quick",
        help="4000 chains a case, for a CPU (the default)",
    )
    level.add_argument(
        "--full",
        dest="level",
        action="store_const",
        const="full",
        help="10^6 chains a case, for a GPU",
    )
    check.set_defaults(level="quick")
    check.add_argument("--alpha", type=float, default=1e-3, metavar="A")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--json", default=None, metavar="PATH")
    check.add_argument("--no-progress", action="store_true", help="no case log")
    figs = sub.add_parser(
        "figures",
        help="regenerate the paper figures (paper_figures/fig_<name>.py)",
        description="Run paper_figures/fig_<NAME>.py for each NAME (or every "
        "figure with --all); each writes paper_figures/out/<NAME>.png and .json.",
    )
    figs.add_argument("names", nargs="*", metavar="NAME")
    figs.add_argument("--all", action="store_true", help="every figure")
    figs.add_argument("--list", action="store_true", help="list the figures")
    size = figs.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="GPU-sized chain counts")
    size.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    figs.add_argument("--seed", type=int, default=None)
    figs.add_argument("--out", default=None, metavar="DIR")
    figs.add_argument(
        "--gallery", action="store_true", help="also the README's small PNGs"
    )
    from jaxcollapse.bench import suite

    bench = sub.add_parser(
        "bench",
        help="benchmark every workload against baselines and the machine's ceilings",
        description=suite.DESCRIPTION,
        epilog=suite.EPILOG,
    )
    suite.add_arguments(bench)
    return parser


def _model(args):
    import dataclasses

    from jaxcollapse.models import FAMILIES

    if args.model not in FAMILIES:
        raise ValueError(
            f"model must be one of {', '.join(FAMILIES)}; got {args.model!r}"
        )
    cls = FAMILIES[args.model]
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for flag, (field, _, _) in FAMILY_FLAGS.items():
        value = getattr(args, field)
        if value is None:
            continue
        if field not in fields:
            own = [f for f, (name, _, _) in FAMILY_FLAGS.items() if name in fields]
            raise ValueError(
                f"{flag} is not a setting of model {args.model} (its settings: "
                f"{', '.join(own) or 'none'})"
            )
        kwargs[field] = value
    model = cls(**kwargs)
    # a flag of a setting that the chosen settings make moot (--factor
    # without --truth circles)
    unused = getattr(model, "unused_settings", dict)()
    for field in kwargs:  # in FAMILY_FLAGS order
        if field in unused:
            needed, values = unused[field]
            raise ValueError(
                f"{RUN_FLAGS[field]} is a setting of {RUN_FLAGS[needed]} "
                f"{either(values)}, not {getattr(model, needed)}"
            )
    return model


# The names simulate() and validate_run() give settings in their messages, and
# the flags `run` takes them by.
RUN_FLAGS = {
    "model": "--model",
    "workflow": "--workflow",
    "num_samples": "--num-samples",
    "num_generations": "--generations",
    "num_chains": "--chains",
    "seed": "--seed",
    "num_real": "--num-real",
    "num_test": "--num-test",
    "temperature": "--temperature",
    "real_weight": "--real-weight",
    "verify": "--verify",
    "keep_fraction": "--keep-fraction",
    "exact_path": "--exact-path",
    "chunk_size": "--chunk-size",
    "keep_trajectories": "--trajectories",
    "checkpoint_interval": "--checkpoint-interval",
    **{field: flag for flag, (field, _, _) in FAMILY_FLAGS.items()},
}


def _as_flags(message: str) -> str:
    """A `run` error message with the settings named by their flags: every
    name with an underscore (never a word of prose), and a message's first
    word when it is a setting ("temperature must be ..." -> "--temperature
    must be ...")."""
    import re

    def flag(match):
        return RUN_FLAGS.get(match.group(0), match.group(0))

    message = re.sub(r"(?<![\w./-])[a-z]+(?:_[a-z0-9]+)+\b(?![./])", flag, message)
    first, space, rest = message.partition(" ")
    if first in RUN_FLAGS:
        message = RUN_FLAGS[first] + space + rest
    return message


class Progress:
    """A one-line progress bar on stderr, shown once a run passes two seconds.

    The time left is estimated from the rate since the first report, so the
    compilation before it does not inflate the estimate."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.start = time.perf_counter()
        self.first = None
        self.shown = False

    def __call__(self, done, total):
        now = time.perf_counter()
        if self.first is None:
            self.first = (now, done)
        elapsed = now - self.start
        if not self.enabled or (elapsed < 2.0 and done < total):
            return
        frac = done / total if total else 1.0
        since, done_then = now - self.first[0], done - self.first[1]
        left = (
            f"about {since * (total - done) / done_then:5.1f} s left"
            if done_then
            else ""
        )
        bar = "#" * int(30 * frac)
        line = f"[{bar:<30}] {100 * frac:5.1f}%  {elapsed:6.1f} s  {left}"
        sys.stderr.write(f"\r{line:<72}")
        sys.stderr.flush()
        self.shown = True

    def close(self):
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


CACHE_ENV = "JAXCOLLAPSE_CACHE_DIR"


def _compilation_cache() -> None:
    """Keep compiled programs on disk between processes (JAX's persistent
    compilation cache), so a command repeated with the same shapes skips XLA's
    compilation: a 10^5-chain Gaussian run's first call 2.7 s -> 1.4 s on the
    2-core benchmark machine. Where: $JAXCOLLAPSE_CACHE_DIR, else
    $XDG_CACHE_HOME/jaxcollapse/xla, else ~/.cache/jaxcollapse/xla;
    JAXCOLLAPSE_CACHE_DIR=off turns it off. A cached program is the same
    program, so results do not change. `jaxcollapse bench` never uses it (its
    cold rows measure compilation)."""
    path = os.environ.get(CACHE_ENV)
    if path is not None and path.strip().lower() in ("", "off", "0", "none"):
        return
    if path is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache"
        )
        path = os.path.join(base, "jaxcollapse", "xla")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return  # no writable cache folder: compile as usual
    if not os.access(path, os.W_OK):
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", path)
    # Only programs worth keeping: the chunk programs, not small eager ops.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def _precision(args) -> None:
    """--x64: float64 everywhere; must run before JAX computes anything."""
    if args.x64:
        import jax

        jax.config.update("jax_enable_x64", True)


def _distributed(args) -> int:
    """Join JAX's distributed runtime if asked to; this process's index."""
    given = [args.coordinator, args.num_processes, args.process_id]
    if all(v is None for v in given):
        return 0
    if any(v is None for v in given):
        raise ValueError("--coordinator, --num-processes and --process-id go together")
    if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
        raise ValueError(
            f"--process-id must be in [0, {args.num_processes - 1}] and "
            f"--num-processes >= 1; got {args.process_id} of {args.num_processes}"
        )
    import jax

    jax.distributed.initialize(
        args.coordinator,
        num_processes=args.num_processes,
        process_id=args.process_id,
    )
    return args.process_id


def _run(args) -> int:
    import dataclasses

    if args.keep_fraction is not None and args.verify is None:
        raise ValueError("--keep-fraction needs --verify truth or --verify model")
    _precision(args)
    rank = _distributed(args)
    from jaxcollapse import report
    from jaxcollapse.simulate import simulate

    model = _model(args)
    if args.checkpoint_interval is not None and args.checkpoint is None:
        raise ValueError("--checkpoint-interval needs --checkpoint DIR")
    if args.json is not None:
        check_writable_file(args.json, "--json")
    metrics = args.metrics.split(",") if args.metrics else None
    if metrics:
        unknown = [m for m in metrics if m not in model.metric_names]
        if unknown:
            raise ValueError(
                f"--metrics: unknown {', '.join(unknown)}; allowed: "
                f"{', '.join(model.metric_names)}"
            )
    show = not args.no_progress and sys.stderr.isatty() and rank == 0
    bar = Progress(enabled=show)
    try:
        results = simulate(
            model,
            args.workflow,
            num_samples=args.num_samples,
            num_generations=args.generations,
            num_chains=args.chains,
            seed=args.seed,
            num_real=args.num_real,
            num_test=args.num_test,
            temperature=args.temperature,
            real_weight=args.real_weight,
            exact_path=args.exact_path,
            verify=args.verify,
            keep_fraction=1.0 if args.keep_fraction is None else args.keep_fraction,
            chunk_size=args.chunk_size,
            keep_trajectories=args.trajectories,
            progress=bar,
            checkpoint=args.checkpoint,
            checkpoint_interval=(
                60.0 if args.checkpoint_interval is None else args.checkpoint_interval
            ),
        )
    finally:
        bar.close()
    if rank != 0:
        return 0
    cfg = results.config
    path = "exact fast path" if cfg["exact_path"] else "sample-level path"
    settings = ", ".join(f"{f.name}={cfg[f.name]}" for f in dataclasses.fields(model))
    if cfg.get("verify"):
        settings += f"; verify={cfg['verify']}, keep_fraction={cfg['keep_fraction']:g}"
    print(
        f"{cfg['model']} ({settings}) / {cfg['workflow']}: n={cfg['num_samples']}, "
        f"num_real={cfg['num_real']}, T={cfg['num_generations']}, "
        f"tau={cfg['temperature']:g}"
        + (f", lambda={cfg['real_weight']:g}" if cfg["real_weight"] is not None else "")
        + f", {cfg['num_chains']} chains, seed {cfg['seed']}, {path}"
    )
    theory = (
        "theory = exact expectation"
        if results.theory
        else "no closed-form theory for this setting"
    )
    print(
        f"{cfg['backend']} x{cfg['num_devices']}, {results.timing['seconds']:.1f} s; "
        f"mean ± sem over chains; {theory}\n"
    )
    print(report.table(results, metrics))
    lines = report.agreement(results, metrics) + report.nonfinite_notes(results)
    if lines:
        print()
        print("\n".join(lines))
    if args.json is not None:
        try:
            results.write_json(args.json)
        except OSError as err:  # checked before the run; the disk may change
            raise OSError(f"cannot write --json {args.json}: {err}") from None
        print(f"\nwrote {args.json}")
    return 0


def _sweep(args) -> int:
    _precision(args)
    from jaxcollapse.sweep import run_sweep

    bar = Progress(enabled=not args.no_progress and sys.stderr.isatty())
    try:
        counts = run_sweep(
            args.spec,
            args.out,
            progress=bar,
            log=print,
            checkpoint_interval=args.checkpoint_interval,
        )
    finally:
        bar.close()
    print(
        f"done: {counts['computed']} points computed, {counts['skipped']} were "
        f"already stored; read them with jaxcollapse.load({args.out!r})"
    )
    return 0


def _verify(args) -> int:
    import dataclasses
    import json

    from jaxcollapse import verify

    if args.json is not None:
        check_writable_file(args.json, "--json")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0; got {args.seed}")
    log = None if args.no_progress else (lambda m: print(m, file=sys.stderr))
    rows, bound, seconds = verify.run(
        args.level, alpha=float(args.alpha), seed=args.seed, log=log
    )
    failed = [r for r in rows if not r.passed]
    print(verify.table(rows))
    print(
        f"{len(rows) - len(failed)} passed, {len(failed)} failed: {len(rows)} "
        f"comparisons, |z| < {bound:.2f} (family-wise false-failure rate "
        f"{args.alpha:g}, Bonferroni), {verify.LEVELS[args.level]} chains a case, "
        f"seed {args.seed}, {seconds:.0f} s"
    )
    if args.json is not None:
        from jaxcollapse import config as cfg

        record = {
            "level": args.level,
            "alpha": args.alpha,
            "z_bound": bound,
            "num_chains": verify.LEVELS[args.level],
            "seed": args.seed,
            "seconds": seconds,
            "environment": cfg.environment(),
            "rows": [
                {
                    k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in dataclasses.asdict(r).items()
                }
                for r in rows
            ],
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
    return 1 if failed else 0


def _figures(args) -> int:
    from jaxcollapse import figures

    path = figures.folder()
    names = figures.available(path)
    if args.list:
        print("\n".join(names))
        return 0
    if args.all == bool(args.names):
        raise ValueError("give figure names or --all (not both); see --list")
    unknown = [n for n in args.names if n not in names]
    if unknown:
        raise ValueError(f"unknown figure {unknown[0]!r}; figures: {', '.join(names)}")
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"--seed must be >= 0; got {args.seed}")
    flags = ["--full"] if args.full else ["--smoke"] if args.smoke else []
    if args.seed is not None:
        flags += ["--seed", str(args.seed)]
    if args.out:
        flags += ["--out", os.path.abspath(args.out)]
    if args.gallery:
        flags.append("--gallery")
    results = figures.run(names if args.all else args.names, flags, path)
    failed = [name for name, code in results if code != 0]
    if failed:
        print(f"jaxcollapse: figures failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    parser = _parser()
    args = None
    try:
        args = parser.parse_args(argv)
        if args.version:
            from jaxcollapse import __version__

            print(f"jaxcollapse {__version__}")
            return 0
        if args.command in ("run", "sweep", "verify"):
            _compilation_cache()
        if args.command == "run":
            return _run(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "verify":
            return _verify(args)
        if args.command == "figures":
            return _figures(args)
        if args.command == "bench":
            from jaxcollapse.bench import suite

            return suite.run(args)
        parser.print_help()
        return 2
    except (UsageError, ValueError, OSError) as err:
        message = str(err)
        command = getattr(args, "command", None)
        if command == "run" and not isinstance(err, OSError):
            message = _as_flags(message)
        elif command == "verify" and message.startswith("alpha "):
            message = "--" + message
        print(f"jaxcollapse: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = ""
        if getattr(args, "checkpoint", None) or getattr(args, "out", None):
            hint = "; run the same command again to resume"
        print(f"jaxcollapse: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
