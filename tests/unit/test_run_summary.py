"""The run summary printed when a run ends (nusmooth.run_summary), from a run's own files: what it says
of each file, and that it says nothing of a file that does not exist or cannot be read. On the
terminal of a real run: tests/workflow/test_run_health.py."""

import json

import numpy as np
import pandas as pd

from nusmooth.run_summary import run_summary


def write_tsv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)


def sweep_history(path, init, moved):
    spread = 0.02 if moved else 0.0
    rows = [
        dict(
            sub_epoch=k,
            counted_fraction=0.8 if moved else 0.0,
            sigma_mean=init,
            sigma_min=init - spread,
            sigma_max=init + spread,
        )
        for k in (1, 2)
    ]
    write_tsv(path, rows)


def test_the_summary_reads_accuracy_sigma_certified_accuracy_and_figures(tmp_path):
    results = tmp_path / "results"
    write_tsv(results / "models/d/history.tsv", [{"epoch": 1, "val_accuracy": 0.5}, {"epoch": 2, "val_accuracy": 0.97}])
    (results / "data/d").mkdir(parents=True)
    (results / "data/d/summary.json").write_text(json.dumps({"class_counts": {"val": {"a": 30, "b": 70}}}))
    sweep_history(results / "sigma/d/init_0.25/history.tsv", 0.25, moved=True)
    sweep_history(results / "sigma/d/init_0.5/history.tsv", 0.5, moved=False)
    thresholds = [-np.inf, -900.0, -800.0, -700.0, -600.0, -500.0]
    rows = [
        {"sigma": sigma, "view": "area", "threshold": t, "certified_accuracy": value * (1 - i / 10)}
        for sigma, value in (("learned: init 0.25", 0.9), ("isotropic 0.25", 0.8))
        for i, t in enumerate(thresholds)
    ]
    write_tsv(results / "tables/d/certified_accuracy.tsv", rows)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures/fig1.pdf").write_bytes(b"%PDF")
    summary = run_summary(tmp_path, ["d"], ["figures/fig1.pdf", "figures/fig2.pdf"])
    print(summary)
    lines = summary.splitlines()
    assert lines[:2] == ["Run summary (from this run's files):", "d:"]
    assert "  base model: validation accuracy 0.970 (majority class 0.700, 2 classes)" in lines
    assert any(
        line.startswith("  sigma from 0.25: mean 0.25, min 0.23, max 0.27 after 2 sub-epoch(s), moved")
        for line in lines
    )
    assert any("sigma from 0.5:" in line and "DID NOT MOVE" in line for line in lines)
    assert "  certified accuracy (test), clean / O_CA >= -900 / O_CA >= -700 / O_CA >= -500:" in lines
    assert "    learned: init 0.25: 0.900 / 0.810 / 0.630 / 0.450" in lines
    assert lines[-1] == "figures: figures/fig1.pdf"  # fig2 was not drawn: not named


def test_the_summary_is_silent_about_files_that_do_not_exist_or_cannot_be_read(tmp_path):
    assert run_summary(tmp_path, ["d"], ["figures/fig1.pdf"]) == ""
    history = tmp_path / "results/models/d/history.tsv"
    history.parent.mkdir(parents=True)
    history.write_text("")  # a job killed while writing (the pipeline's writes are atomic; a user's copy may not be)
    (tmp_path / "results/sigma/d/init_0.25").mkdir(parents=True)  # a sweep that has not ended
    assert run_summary(tmp_path, ["d"], []) == ""
    write_tsv(history, [{"epoch": 0, "val_accuracy": 1.0}])
    assert run_summary(tmp_path, ["d"], []).splitlines()[1:] == ["d:", "  base model: validation accuracy 1.000"]
