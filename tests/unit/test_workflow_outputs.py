"""The output comparison used by the SLURM end-to-end test ignores exactly the non-results."""

import torch

from nusmooth.io import atomic_torch_save
from support.workflow_outputs import differences


def write_run(root, *, time="0.13", value="0.8976", sigma=0.25, date=b"D:20260101000000Z", extra=False):
    (root / "results" / "certify").mkdir(parents=True)
    (root / "figures").mkdir()
    (root / "results" / "certify" / "learned.tsv").write_text(f"idx\tpa_lower\ttime\n0\t{value}\t{time}\n")
    (root / "results" / "choice.json").write_text('{"init": 0.25}\n')
    atomic_torch_save({"learned": torch.full((1, 2, 2), sigma), "meta": ["x", 1]}, root / "results" / "sigmas.pt")
    (root / "figures" / "fig1.pdf").write_bytes(b"%PDF-1.4 /CreationDate (" + date + b") rest")
    (root / "figures" / "fig1.png").write_bytes(b"\x89PNG same")
    (root / "results" / "certify" / ".learned.tsv.abc.tmp").write_text("half-written")
    if extra:
        (root / "results" / "extra.json").write_text("{}")
    return root


def test_equal_runs_differ_only_in_timing_and_stamps(tmp_path):
    a = write_run(tmp_path / "a")
    b = write_run(tmp_path / "b", time="9.99", date=b"D:20270202000000Z")
    (b / "results" / "certify" / ".learned.tsv.abc.tmp").write_text("other garbage")
    assert differences(a, b) == []


def test_result_changes_are_reported(tmp_path):
    a = write_run(tmp_path / "a")
    assert differences(a, write_run(tmp_path / "value", value="0.8977")) == ["results/certify/learned.tsv differs"]
    found = differences(a, write_run(tmp_path / "sigma", sigma=0.2500001))
    assert found == ["results/sigmas.pt['learned']: tensors differ"]
    repacked = write_run(tmp_path / "repacked")
    torch.save(
        {"learned": torch.full((1, 2, 2), 0.25), "meta": ["x", 1]}, repacked / "results" / "sigmas.pt"
    )  # named records
    assert differences(a, repacked) == ["results/sigmas.pt: same tensors, different bytes"]
    found = differences(a, write_run(tmp_path / "extra", extra=True))
    assert len(found) == 1 and "results/extra.json" in found[0]
