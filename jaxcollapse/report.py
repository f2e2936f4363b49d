"""Plain-text tables of Results: simulation mean ± sem beside theory."""

import math

import numpy as np

DEFAULT_METRICS = {
    "gaussian": ("std", "var", "log_var", "mean_sqerr", "kl"),
    "gaussian_nd": ("trace_cov", "log_det_cov", "mean_sqerr", "kl"),
}


def log_rows(num_generations: int, max_rows: int = 14) -> list[int]:
    """Generations 0, 1, 2, ... T sampled on a log scale (always 0 and T)."""
    if num_generations <= max_rows:
        return list(range(num_generations + 1))
    picks = np.geomspace(1, num_generations, max_rows - 1)
    rows = {0, num_generations, *np.round(picks).astype(int).tolist()}
    return sorted(rows)


def fmt(x) -> str:
    """Four significant digits; scientific notation far from 1."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.4g}" if abs(x) >= 1 else f"{x:.4f}"
    return f"{x:.3e}"


def fmt_pm(mean, sem) -> str:
    """'mean ± sem' with sem to two significant digits and mean to the same place."""
    mean, sem = float(mean), float(sem)
    if not (math.isfinite(mean) and math.isfinite(sem)) or sem <= 0:
        return f"{fmt(mean)} ± {fmt(sem)}"
    place = 1 - math.floor(math.log10(sem))
    if abs(mean) >= 1e5 or (mean != 0 and abs(mean) < 1e-3 and place > 8):
        return f"{mean:.3e} ± {sem:.1e}"
    place = max(place, 0)
    return f"{mean:.{place}f} ± {sem:.{place}f}"


def default_metrics(config: dict) -> tuple[str, ...]:
    if config.get("model") == "gaussian" and config.get("dim", 1) > 1:
        return DEFAULT_METRICS["gaussian_nd"]
    return DEFAULT_METRICS.get(config.get("model"), ())


def table(results, metrics=None, max_rows: int = 14) -> str:
    """One row per sampled generation; per metric 'mean ± sem' and its theory."""
    names = list(metrics or default_metrics(results.config) or results.metrics)
    names = [n for n in names if n in results.metrics]
    rows = log_rows(len(results.generations) - 1, max_rows)
    cells = [["gen"]]
    for name in names:
        cells[0] += [name, "theory" if name in results.theory else ""]
    for t in rows:
        line = [str(t)]
        for name in names:
            stat = results.metrics[name]
            line.append(fmt_pm(stat["mean"][t], stat["sem"][t]))
            theory = results.theory.get(name)
            line.append(fmt(theory[t]) if theory is not None else "")
        cells.append(line)
    return render(cells, rule=True)


def render(cells: list[list[str]], left=frozenset(), rule: bool = False) -> str:
    """Rows of cells as aligned columns two spaces apart: right-aligned but for
    the column indices in `left`; with `rule`, a line of dashes under row 0."""
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    text = []
    for i, r in enumerate(cells):
        parts = [
            c.ljust(w) if j in left else c.rjust(w)
            for j, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        text.append("  ".join(parts).rstrip())
        if rule and i == 0:
            text.append("-" * len(text[0]))
    return "\n".join(text)


def agreement(results, metrics=None) -> list[str]:
    """Lines 'metric at generation T: sim ± sem, theory, z' for the shown metrics."""
    t = len(results.generations) - 1
    names = list(metrics or default_metrics(results.config) or results.metrics)
    out = []
    for name in names:
        theory = results.theory.get(name)
        if theory is None or name not in results.metrics or math.isnan(theory[t]):
            continue  # (NaN: no closed form at this generation)
        stat = results.metrics[name]
        mean, sem = stat["mean"][t], stat["sem"][t]
        if math.isnan(mean):
            verdict = "no z: no chain has a finite value"
        elif math.isnan(sem):
            verdict = "no z: a standard error needs 2 or more finite chains"
        elif sem > 0:
            verdict = f"z = {(mean - theory[t]) / sem:+.2f}"
        elif mean == theory[t]:
            verdict = "equal in every chain"  # no spread: z is undefined
        else:
            verdict = "no spread across chains, and not equal"
        nonfinite = int(stat["nonfinite"][t])
        extra = f", {nonfinite} non-finite" if nonfinite else ""
        out.append(
            f"{name} at generation {t}: simulated {fmt_pm(mean, sem)}, "
            f"theory {fmt(theory[t])}, {verdict}{extra}"
        )
    return out


def nonfinite_notes(results) -> list[str]:
    """One line per metric that had non-finite values at some generation."""
    out = []
    total = results.config.get("num_chains")
    for name, stat in results.metrics.items():
        bad = np.asarray(stat["nonfinite"])
        if bad.any():
            first = int(np.argmax(bad > 0))
            out.append(
                f"note: {name} was non-finite in {int(bad.max())} of {total} chains "
                f"(first at generation {first}); such values are counted, not averaged"
                + ("" if results.config.get("x64") else "; --x64 widens the range")
            )
    return out
