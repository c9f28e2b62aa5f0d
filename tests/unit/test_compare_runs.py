"""benchmarks/compare_runs.py: two runs' tables compared row by row on their key columns, every
difference named (a value, a row, a column, a file), and equal runs said to be equal."""

import pandas as pd

from support.benchmark_modules import load_benchmark

compare_runs = load_benchmark("compare_runs")


def write_run(root, front: pd.DataFrame, extra: bool = False):
    folder = root / "results/tables/mnist"
    folder.mkdir(parents=True)
    front.to_csv(folder / "fig2_front.tsv", sep="\t", index=False)
    if extra:
        front.to_csv(folder / "extra.tsv", sep="\t", index=False)
    (root / "results/sigma_regions").mkdir(parents=True)
    return root


FRONT = pd.DataFrame(
    {
        "kind": ["learned", "learned", "isotropic"],
        "init": [0.25, 0.5, 0.25],
        "sub_epoch": [1, 2, 0],
        "test_accuracy": [0.9, 0.8, 0.85],
        "drawn": [True, True, True],
    }
)


def test_equal_runs_are_equal(tmp_path, capsys):
    a, b = write_run(tmp_path / "a", FRONT), write_run(
        tmp_path / "b", FRONT.iloc[::-1]
    )  # row order is not a difference
    assert compare_runs.main([str(a), str(b)]) == 0
    assert "1 table(s) equal, 0 differ" in capsys.readouterr().out


def test_every_kind_of_difference_is_named(tmp_path, capsys):
    changed = FRONT.copy()
    changed.loc[1, "test_accuracy"] = 0.8000001
    changed = pd.concat([changed, FRONT.iloc[:1].assign(init=1.0)]).assign(val_front_size=3)
    a, b = write_run(tmp_path / "a", FRONT, extra=True), write_run(tmp_path / "b", changed)
    assert compare_runs.main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "only in A: results/tables/mnist/extra.tsv" in out
    assert "columns only in B: ['val_front_size']" in out
    assert "1 row(s) only in B" in out and "1.0" in out
    assert "learned/0.5/2 test_accuracy: 0.8 (A) vs 0.8000001 (B)" in out
    assert compare_runs.main([str(a), str(b), "--tolerance", "1e-6"]) == 1  # the other differences remain
    assert "test_accuracy" not in capsys.readouterr().out.split("columns only in B")[1]
