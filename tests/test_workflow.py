"""The real workflow, end to end, on the tiny configuration (the session's run); config validation; lint."""

import json

import pandas as pd
import pytest
import yaml

from workflow import REPO, SNAKEMAKE, TINY_CONFIG, snakemake


def test_tiny_run_renders_figure_1(tiny_all):
    pdf, png = tiny_all / "figures/fig1.pdf", tiny_all / "figures/fig1.png"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000
    assert png.read_bytes().startswith(b"\x89PNG")


def test_certificates_have_one_row_per_test_point(tiny_all):
    tiny = yaml.safe_load(TINY_CONFIG.read_text())["datasets"]["mnist5k"]
    folder = tiny_all / "results/certify/mnist5k/fig1_init_0.25"
    for kind in ("learned", "isotropic"):
        table = pd.read_csv(folder / f"{kind}.tsv", sep="\t")
        assert list(table.columns[:8]) == ["idx", "label", "predict", "pa_lower", "phi_inv_pa_lower", "certified_area", "correct", "time"]
        assert len(table) == tiny["fig1"]["test_points"]
        assert (table["sigma_space"] == "[0,1] pixels").all() and (table["precision"] == "fp32").all()
        certified = table["predict"] != -1
        assert (table.loc[certified, "pa_lower"] >= 0.5).all()
        assert (table["correct"] == (table["predict"] == table["label"]).astype(int)).all()
    choice = json.loads((folder / "choice.json").read_text())
    assert choice["sub_epoch"] in (1, 2) and choice["isotropic_sigma"] > 0


def test_sweep_metrics_cover_validation_and_test(tiny_all):
    folder = tiny_all / "results/sweep/mnist5k/learned_0.25"
    for split in ("val", "test"):
        assert set(pd.read_csv(folder / f"{split}.tsv", sep="\t")["split"]) == {split}
    metrics = pd.concat([pd.read_csv(folder / f"{split}.tsv", sep="\t") for split in ("val", "test")])
    assert sorted(metrics.loc[metrics["split"] == "val", "sub_epoch"]) == [1, 2]
    assert metrics["accuracy"].between(0, 1).all()


def test_every_stage_logs_its_own_random_stream(tiny_all):
    """Each noise-drawing job names its stream and seed in its log; no two streams share a seed."""
    import re

    seeds = {}
    for log in (tiny_all / "logs").rglob("*.log"):
        for stream, seed in re.findall(r"random stream (\S+): seed (\d+)", log.read_text()):
            seeds.setdefault(seed, set()).add(stream)
    streams = [stream for names in seeds.values() for stream in names]
    assert any(s.startswith("evaluate_sigma/mnist5k/learned/0.25/val") for s in streams)
    assert any(s.startswith("evaluate_sigma/mnist5k/learned/0.25/test") for s in streams)
    assert any(s.startswith("certify/mnist5k/0.25/learned") for s in streams)
    assert any(s.startswith("optimize_sigma/mnist5k/0.25/noise") for s in streams)
    assert all(len(names) == 1 for names in seeds.values()), seeds


BAD_VALUES = [
    ({"alpha": 0.7}, "alpha"),
    ({"alpha": 0.0}, "alpha"),
    ({"run_datasets": ["imagenett"]}, "run_datasets"),
    ({"datasets": {"mnist5k": {"sigma": {"inits": [-0.1]}}}}, "inits"),
    ({"datasets": {"mnist5k": {"fig1": {"n0": 0}}}}, "n0"),
    ({"datasets": {"mnist5k": {"sweep_eval": {"n": 0}}}}, "'n'"),
    ({"datasets": {"mnist5k": {"split": {"train": 0.5, "val": 0.2, "test": 0.2}}}}, "datasets.mnist5k.split"),
    ({"datasets": {"mnist5k": {"fig1": {"inits": [0.33]}}}}, "datasets.mnist5k.fig1.inits"),
    ({"datasets": {"mnist5k": {"sigma": {"lr": "fast"}}}}, "lr"),
    ({"typo_key": 1}, "typo_key"),
]


@pytest.mark.parametrize("override,key", BAD_VALUES)
def test_bad_config_fails_at_once_naming_the_key(tmp_path, override, key):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(override))
    result = snakemake(tmp_path, "figures/fig1.pdf", "-n", configfile=config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert key in output, output[-3000:]
    assert not (tmp_path / "results").exists()


def test_an_unknown_preset_lists_the_presets_that_exist(tmp_path):
    result = snakemake(tmp_path, "figures/fig1.pdf", "-n", "--config", "preset=papr")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unknown preset 'papr'" in output and "Presets: default, paper" in output, output[-3000:]
    assert "preset=<one of these>" in output
    assert not (tmp_path / "results").exists()


def test_lint_and_format_are_clean():
    import subprocess
    from pathlib import Path

    lint = subprocess.run([SNAKEMAKE, "--lint", "-s", str(REPO / "Snakefile")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-3000:]
    snakefmt = str(Path(SNAKEMAKE).with_name("snakefmt"))
    fmt = subprocess.run([snakefmt, "--check", "Snakefile", "rules/"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert fmt.returncode == 0, fmt.stderr[-3000:]
