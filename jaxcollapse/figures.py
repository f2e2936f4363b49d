"""`jaxcollapse figures`: find and run the paper_figures/fig_<topic>.py scripts.

The scripts live in the repository's paper_figures/ folder (the fixed package
layout keeps them out of the installed package), so they are looked for in
$JAXCOLLAPSE_FIGURES, then ./paper_figures, then beside the package source (an
editable or source install). Each runs in its own process, as
`python fig_<name>.py [--full|--smoke] [--seed S] [--out DIR] [--gallery]`.
"""

import os
import subprocess
import sys
from pathlib import Path


def folder() -> Path:
    """The paper_figures folder; ValueError (one line) when there is none."""
    candidates = []
    if os.environ.get("JAXCOLLAPSE_FIGURES"):
        candidates.append(Path(os.environ["JAXCOLLAPSE_FIGURES"]))
    candidates += [
        Path.cwd() / "paper_figures",
        Path(__file__).resolve().parents[1] / "paper_figures",
    ]
    for path in candidates:
        if (path / "_common.py").is_file():
            return path
    raise ValueError(
        "no paper_figures/ folder found (looked in $JAXCOLLAPSE_FIGURES, "
        "./paper_figures and beside the package); run from a jaxcollapse checkout"
    )


def available(path: Path) -> list[str]:
    """Figure names, from fig_<name>.py, sorted."""
    return sorted(p.stem[len("fig_") :] for p in path.glob("fig_*.py"))


def run(names: list[str], flags: list[str], path: Path) -> list[tuple[str, int]]:
    """Run each named figure's script; (name, exit code) for each."""
    out = []
    for name in names:
        script = path / f"fig_{name}.py"
        done = subprocess.run([sys.executable, str(script), *flags], cwd=path)
        out.append((name, done.returncode))
    return out
