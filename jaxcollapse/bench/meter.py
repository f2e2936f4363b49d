"""What every benchmark measures with: a CPU meter, a compile clock, the
machine record, number formatting and a Markdown table."""

import datetime
import math
import os
import platform
import subprocess
import time

import numpy as np


def _busy_seconds():
    """Non-idle CPU seconds of the whole machine so far (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields]
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    busy = sum(ticks[:3]) + sum(ticks[5:8])
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Meter:
    """Wall time of a block, the CPU cores it used, and the cores others used."""

    def __enter__(self):
        self.busy, self.own = _busy_seconds(), _own_seconds()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.started
        own = _own_seconds() - self.own
        self.cores = own / self.wall
        busy = _busy_seconds()
        self.others = None
        if busy is not None and self.busy is not None:
            self.others = max(0.0, (busy - self.busy - own) / self.wall)
        return False


class CompileClock:
    """Sums the durations JAX reports for tracing, lowering and compiling."""

    def __init__(self):
        import jax

        self.total = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **_):
        if event.startswith("/jax/core/compile/"):
            self.total += duration


def json_child(command, what: str, env=None) -> dict:
    """Run `command`, whose last stdout line is a JSON object; that object
    with `peak_rss_bytes` (the child's own peak resident set, os.wait4; Linux
    reports KiB) and `process_wall_s`. ValueError (one line) if it fails."""
    import json

    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    text = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    proc.stdout.close()
    if proc.returncode != 0:
        raise ValueError(f"{what} failed (exit {proc.returncode})")
    out = json.loads(text.strip().splitlines()[-1])
    out["process_wall_s"] = time.perf_counter() - started
    out["peak_rss_bytes"] = usage.ru_maxrss * 1024
    return out


def si(x):
    if x is None or not math.isfinite(x):
        return "-"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g}{suffix}"
    return f"{x:.3g}"


def machine_info():
    import jax

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    import jaxcollapse

    try:
        import scipy

        scipy_version = scipy.__version__
    except ImportError:  # scipy is only a test dependency
        scipy_version = None

    return {
        "platform": platform.platform(),
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": getattr(jax.lib, "__version__", None) or _jaxlib_version(),
        "numpy": np.__version__,
        "scipy": scipy_version,
        "jaxcollapse": jaxcollapse.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    }


def source_state():
    """The jaxcollapse commit benchmarked and whether its tree had local changes;
    unknown unless the package is the jaxcollapse/ folder of a git checkout (an
    installed copy inside some other repository must not report that one)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    state = {"git_commit": "unknown", "git_dirty": None}

    def git(*words):
        done = subprocess.run(
            ["git", *words], cwd=here, capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip() if done.returncode == 0 else None

    try:
        if git("rev-parse", "--show-prefix") != "jaxcollapse/":
            return state
        commit, dirty = git("rev-parse", "--short", "HEAD"), git("status", "-s", ".")
    except (OSError, subprocess.SubprocessError):
        return state
    if commit:
        state["git_commit"] = commit
        state["git_dirty"] = bool(dirty)
    return state


def _jaxlib_version():
    try:
        import jaxlib

        return jaxlib.__version__
    except Exception:  # pragma: no cover - informational only
        return None


def verdict(ok):
    return "PASS" if ok else "FAIL"


def markdown_table(header, body, left=()):
    """A Markdown table; columns in `left` are left-aligned, others right."""
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]

    def line(cells):
        cells = [
            c.ljust(widths[i]) if i in left else c.rjust(widths[i])
            for i, c in enumerate(cells)
        ]
        return "| " + " | ".join(cells) + " |"

    rule = (
        "|"
        + "|".join(
            (":" + "-" * (widths[i] + 1))
            if i in left
            else ("-" * (widths[i] + 1) + ":")
            for i in range(len(header))
        )
        + "|"
    )
    return "\n".join([line(header), rule] + [line(b) for b in body])
