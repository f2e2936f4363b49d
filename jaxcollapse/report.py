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
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.4f}" if abs(x) < 100 else f"{x:.2f}"
    return f"{x:.4g}"


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
            line.append(f"{fmt(stat['mean'][t])} ± {fmt(stat['sem'][t])}")
            theory = results.theory.get(name)
            line.append(fmt(theory[t]) if theory is not None else "")
        cells.append(line)
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    text = []
    for i, r in enumerate(cells):
        text.append("  ".join(c.rjust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            text.append("-" * len(text[0]))
    return "\n".join(text)


def agreement(results) -> list[str]:
    """Lines 'metric at generation T: sim ± sem, theory, z' for every theory."""
    t = len(results.generations) - 1
    out = []
    for name, theory in results.theory.items():
        if name not in results.metrics:
            continue
        stat = results.metrics[name]
        mean, sem = stat["mean"][t], stat["sem"][t]
        z = (mean - theory[t]) / sem if sem > 0 else float("nan")
        nonfinite = int(stat["nonfinite"][t])
        extra = f", {nonfinite} non-finite" if nonfinite else ""
        out.append(
            f"{name} at generation {t}: simulated {fmt(mean)} ± {fmt(sem)}, "
            f"theory {fmt(theory[t])}, z = {z:+.2f}{extra}"
        )
    return out
