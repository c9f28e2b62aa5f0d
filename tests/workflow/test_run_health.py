"""The run's health on the terminal (issue 27): a base model at chance stops the run at train_base with
the class list and the fix, leaving no model behind; every job says when it starts and ends; and the
run ends with its summary (accuracy, sigma, certified accuracy, figures). The gates' rules themselves:
tests/unit/test_sanity.py; the summary's reading of files: tests/unit/test_run_summary.py."""

from pathlib import Path

import torch
import yaml
from support import copy_run
from support.workflow import snakemake


class Brightness(torch.nn.Module):
    """A correct classifier of dark (class 0) and bright (class 1) images, by mean pixel value."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x.mean(dim=(1, 2, 3)) - 0.5) * 20.0
        return torch.stack([-score, score], dim=1)


def dark_and_bright(root: Path, per_class: int = 30) -> Path:
    """30 images a class: a 0.6 / 0.2 / 0.2 split leaves 12 for validation, enough for a model right on
    all 12 to pass the default gate (its 99.9% lower bound 0.001 ** (1/12) = 0.56 is above 0.5): only the
    class order stops it."""
    from PIL import Image

    for name, level in (("dark", 60), ("bright", 190)):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            Image.new("L", (8, 8), level + index).save(root / name / f"{index:02d}.png")
    return root


def test_a_model_at_chance_stops_at_train_base_with_the_class_list_and_no_model(tmp_path):
    """Issue 27, case 1: the model was right, the class order wrong (here given in the wrong order), and
    the run went on to certify and plot with exit code 0."""
    script = tmp_path / "brightness.ts"
    torch.jit.save(torch.jit.script(Brightness()), script)
    block = {
        "source": {"format": "image_folder", "path": str(dark_and_bright(tmp_path / "images"))},
        "model": {"source": f"torchscript:{script}"},
    }
    config = tmp_path / "config.yaml"
    work = tmp_path / "run"
    model = work / "results/models/tones/model.pt"
    block["source"]["classes"] = ["bright", "dark"]  # the model's order is dark, bright
    config.write_text(yaml.safe_dump({"run_datasets": ["tones"], "datasets": {"tones": block}}))
    stopped = snakemake(work, str(model.relative_to(work)), "--cores", "2", "--resources", "gpu=1", configfile=config)
    terminal = stopped.stderr
    assert stopped.returncode != 0
    assert "train_base (dataset=tones): started" in terminal and "prepare_data (dataset=tones): done in" in terminal
    assert "the base model is at or near chance: validation accuracy 0.000 (0 of 12)" in terminal
    assert "Classes in label order: bright, dark" in terminal and "datasets.tones.source.classes" in terminal
    assert not model.exists() and not list(work.glob("results/**/.*.tmp"))
    print(terminal[terminal.index("Error in rule train_base") :])  # (a passing gate: every tiny_all run)


def test_a_run_ends_with_its_summary_on_the_terminal(tiny_all, tmp_path):
    work = copy_run(tiny_all, tmp_path / "run")
    rerun = snakemake(work, "figures/fig3.pdf", "--cores", "2", "--resources", "gpu=1", "-R", "plot_fig3")
    terminal = rerun.stderr
    assert rerun.returncode == 0, terminal[-3000:]
    assert "plot_fig3: started" in terminal and "plot_fig3: done in" in terminal
    summary = terminal[terminal.index("Run summary (from this run's files):") :]
    assert "mnist5k:\n  base model: validation accuracy 0." in summary
    for init in (0.25, 0.5):
        assert f"  sigma from {init}: mean " in summary
    assert "moved; training points counted" in summary and "certified accuracy (test), clean / O_CA >= " in summary
    assert "figures: figures/fig1.pdf, figures/fig1_l2.pdf, figures/fig3.pdf, figures/fig2.pdf" in summary
    print(summary)
