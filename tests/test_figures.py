"""`jaxcollapse figures` finds the scripts, runs one, and refuses bad input."""

import json

import pytest

from jaxcollapse import figures
from jaxcollapse.cli import main


def test_every_figure_script_is_listed(capsys):
    path = figures.folder()
    assert main(["figures", "--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == sorted(p.stem[4:] for p in path.glob("fig_*.py"))
    assert {"gaussian_collapse", "std_1000"} <= set(listed)


def test_one_figure_writes_png_and_json(tmp_path):
    assert (
        main(["figures", "gaussian_collapse", "--smoke", "--out", str(tmp_path)]) == 0
    )
    png = tmp_path / "gaussian_collapse.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((tmp_path / "gaussian_collapse.json").read_text())
    assert record["size"] == "smoke" and record["seed"] == 0
    data = record["data"]
    assert data["chains"] > 0
    assert len(data["log_var"]["mean"]) == len(data["generations"])
    assert len(data["log_var"]["theory"]) == len(data["generations"])


@pytest.mark.slow
def test_every_figure_runs_at_smoke_size(tmp_path):
    assert main(["figures", "--all", "--smoke", "--out", str(tmp_path)]) == 0
    for name in figures.available(figures.folder()):
        assert (tmp_path / f"{name}.png").is_file(), name
        assert (tmp_path / f"{name}.json").is_file(), name


def test_bad_figures_input_is_one_line_and_exit_2(capsys):
    for argv in (
        ["figures"],
        ["figures", "nope"],
        ["figures", "--all", "std_1000"],
        ["figures", "std_1000", "--seed", "-3"],
        ["figures", "--full", "--smoke", "--all"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("jaxcollapse: error"), err
