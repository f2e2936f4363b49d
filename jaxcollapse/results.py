"""The result of a run: per-generation statistics, theory and settings (SPEC §6)."""

import json
import math
from dataclasses import dataclass, field

import numpy as np


def _clean(values) -> list:
    """A JSON-safe list: non-finite floats become null (strict JSON has no NaN)."""
    out = []
    for v in np.asarray(values).tolist():
        if isinstance(v, float) and not math.isfinite(v):
            out.append(None)
        else:
            out.append(v)
    return out


def _unclean(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values])


@dataclass
class Results:
    """Statistics across chains of one setting.

    metrics[name][statistic] is an array over generations 0..T (SPEC §5 names);
    theory[name] the closed-form expectation where one exists; trajectories[name]
    (K, T+1) per-chain paths of the first K chains when asked for.
    """

    config: dict
    generations: np.ndarray
    metrics: dict[str, dict[str, np.ndarray]]
    theory: dict[str, np.ndarray] = field(default_factory=dict)
    trajectories: dict[str, np.ndarray] = field(default_factory=dict)
    timing: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {
            "config": self.config,
            "generations": _clean(self.generations),
            "metrics": {
                name: {stat: _clean(v) for stat, v in stats.items()}
                for name, stats in self.metrics.items()
            },
            "theory": {name: _clean(v) for name, v in self.theory.items()},
            "timing": self.timing,
        }
        if self.trajectories:
            out["trajectories"] = {
                name: [_clean(row) for row in v]
                for name, v in self.trajectories.items()
            }
        return out

    def write_json(self, path) -> None:
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, allow_nan=False)
            f.write("\n")

    @classmethod
    def from_dict(cls, data: dict) -> "Results":
        return cls(
            config=data["config"],
            generations=np.asarray(data["generations"]),
            metrics={
                name: {stat: _unclean(v) for stat, v in stats.items()}
                for name, stats in data["metrics"].items()
            },
            theory={name: _unclean(v) for name, v in data.get("theory", {}).items()},
            trajectories={
                name: np.array([_unclean(r) for r in v])
                for name, v in data.get("trajectories", {}).items()
            },
            timing=data.get("timing", {}),
        )

    @classmethod
    def read_json(cls, path) -> "Results":
        with open(path) as f:
            return cls.from_dict(json.load(f))
