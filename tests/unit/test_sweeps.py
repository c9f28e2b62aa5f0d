"""The sweeps as the workflow's jobs run them (nusmooth.sweeps): a sweep raced through its stage jobs,
each block written and read back as the workflow passes it on, gives the one-call sweep's records bit
for bit (the files' bytes), a dropped candidate keeps the records of the points it reached, and the
fronts' members are certified with their own sweeps' sigmas and streams."""

import zlib

import pandas as pd
import pytest
import torch

from nusmooth.artifacts import RACE_BLOCK, SWEEP_RECORDS, SigmaSnapshots
from nusmooth.data import ImageSplit
from nusmooth.racing import whole_batch_points, workflow_schedule
from nusmooth.records import BLOCK_COLUMNS, RECORD_COLUMNS
from nusmooth.sweeps import (
    NOT_RACED,
    SweepJob,
    assemble_records,
    certify_candidates,
    front_candidates,
    metrics_table,
    sweep_candidates,
)

CLASSES, POINTS = 3, 24
N0, N, BATCH = 4, 12, 48  # whole batches of 12 points: stages of 12, 12 (an empty block) and 24 points
FRACTIONS = (0.25, 0.5, 1.0)
SETTINGS = dict(num_classes=CLASSES, n0=N0, n=N, alpha=0.01, batch_size=BATCH, limit=None, device="cpu")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, CLASSES)
    )
    return net.eval()


@pytest.fixture(scope="module")
def split(model):
    """Random images labelled by the model's clean answer on most of them, so that many points are
    certified correct and some are not."""
    images = torch.randint(0, 256, (POINTS, 1, 6, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = model(images.float() / 255).argmax(1)
    labels[::5] = (labels[::5] + 1) % CLASSES
    return ImageSplit(images, labels)


@pytest.fixture(scope="module")
def snapshots():
    sigmas = [torch.full((1, 6, 6), value) for value in (0.1, 0.2, 0.4)]
    sigmas[1][0, 0, :] = 0.05  # a non-uniform one
    return SigmaSnapshots.of_sweep(sigmas, 0.25, "[0,1] pixels")


def new_generator(kind, init):
    """A fresh generator of the sweep's stream (its seed from the sweep's name, as stream_generator's)."""
    return torch.Generator().manual_seed(zlib.crc32(f"{kind}/{init}".encode()))


def certify(model, split, job):
    return certify_candidates(
        model,
        split,
        job.to_certify(),
        split_name="val",
        new_generator=new_generator,
        active=job.active,
        precision="fp32",
        **SETTINGS,
    )


def race(model, split, snapshots, decisions, tmp_path):
    """The stage jobs of one learned sweep: each block saved and loaded as race_stage writes and
    evaluate_sigma reads it; ``decisions[s]`` is the decision after stage s (None: every candidate goes on)."""
    schedule = workflow_schedule(POINTS, FRACTIONS, whole_batch_points(N0, N, BATCH))
    assert schedule == (12, 12, 24)
    candidates = sweep_candidates("learned", "0.25", snapshots)
    blocks = []
    for stage in range(1, len(schedule)):
        job = SweepJob(
            kind="learned",
            init="0.25",
            stage=stage,
            schedule=schedule,
            candidates=candidates,
            decision=decisions[stage - 1],
        )
        path = tmp_path / f"val_stage{stage}_records.tsv.gz"
        RACE_BLOCK.save(certify(model, split, job), path)
        blocks.append(RACE_BLOCK.load(path))
    last = SweepJob(
        kind="learned",
        init="0.25",
        stage=len(schedule),
        schedule=schedule,
        candidates=candidates,
        decision=decisions[-1],
    )
    blocks.append(certify(model, split, last))
    return assemble_records(blocks, last.stage_of()), last


def one_call(model, split, snapshots):
    """The full sweep as one job: stages [1.0]."""
    job = SweepJob(
        kind="learned",
        init="0.25",
        stage=1,
        schedule=(POINTS,),
        candidates=sweep_candidates("learned", "0.25", snapshots),
    )
    return certify(model, split, job)


def decision_dropping(sub_epoch: int, stage: int) -> dict:
    """A decision (nusmooth.racing.decide_stage's keys that the jobs read) that dropped one snapshot."""
    survivors = [{"kind": "learned", "init": 0.25, "sub_epoch": e} for e in (1, 2, 3) if e != sub_epoch]
    return {
        "survivors": survivors,
        "dropped": [{"kind": "learned", "init": 0.25, "sub_epoch": sub_epoch, "stage": stage}],
    }


def test_a_raced_sweep_that_drops_nothing_writes_the_one_call_sweeps_bytes(model, split, snapshots, tmp_path):
    raced, last = race(model, split, snapshots, [None, None, None], tmp_path)
    full = assemble_records([one_call(model, split, snapshots)], lambda candidate: len(last.schedule))
    assert list(raced.columns) == RECORD_COLUMNS and len(raced) == 3 * POINTS
    SWEEP_RECORDS.save(raced, tmp_path / "raced.tsv.gz")
    SWEEP_RECORDS.save(full, tmp_path / "full.tsv.gz")
    assert (tmp_path / "raced.tsv.gz").read_bytes() == (tmp_path / "full.tsv.gz").read_bytes()
    assert 0 < raced["correct"].mean() < 1  # the check compares certificates of both outcomes


def test_a_dropped_candidate_keeps_the_records_of_the_points_it_reached(model, split, snapshots, tmp_path):
    first = decision_dropping(2, stage=1)
    raced, last = race(model, split, snapshots, [None, first, first], tmp_path)
    full = one_call(model, split, snapshots)
    dropped = raced[raced["sub_epoch"] == 2]
    assert sorted(dropped["idx"]) == list(range(12)) and set(dropped["race_stage"]) == {1}
    expected = full[(full["sub_epoch"] == 2) & (full["idx"] < 12)].reset_index(drop=True)
    pd.testing.assert_frame_equal(dropped[BLOCK_COLUMNS].reset_index(drop=True), expected, check_dtype=False)
    survivors = raced[raced["sub_epoch"] != 2]
    assert set(survivors["race_stage"]) == {3} and len(survivors) == 2 * POINTS
    means = last.sigma_means()
    metrics = metrics_table(
        raced,
        sigma_means=means,
        total_points=POINTS,
        settings={"n0": N0, "n": N, "alpha": 0.01, "sigma_space": "[0,1] pixels"},
    ).set_index("sub_epoch")
    assert metrics["complete"].to_dict() == {1: True, 2: False, 3: True}
    assert metrics.loc[2, "points"] == 12 and metrics.loc[2, "race_stage"] == 1
    assert metrics.loc[2, "sigma_mean"] == pytest.approx(float(snapshots.at(2).mean()))


def test_an_empty_block_certifies_nothing_and_says_so(snapshots):
    candidates = sweep_candidates("learned", "0.25", snapshots)
    job = SweepJob(kind="learned", init="0.25", stage=2, schedule=(12, 12, 24), candidates=candidates)
    assert len(job.block) == 0 and job.to_certify() == []
    summary = job.summary(36)
    assert summary["block"] == [12, 12] and summary["certified"] == [] and summary["val_points"] == 24
    dropping = SweepJob(
        kind="learned",
        init="0.25",
        stage=3,
        schedule=(12, 12, 24),
        candidates=candidates,
        decision=decision_dropping(1, 1),
    )
    assert [sub_epoch for _, _, sub_epoch, _ in dropping.to_certify()] == [2, 3]
    assert dropping.active == range(12, 24)
    assert SweepJob(kind="isotropic", init="0.5", stage=1, schedule=(24,), candidates=[]).active is None


def test_the_test_split_is_not_raced(snapshots):
    job = SweepJob(
        kind="learned",
        init="0.25",
        stage=1,
        schedule=(24,),
        candidates=sweep_candidates("learned", "0.25", snapshots),
        raced=False,
    )
    assert job.stage_of()({"kind": "learned", "init": 0.25, "sub_epoch": 1}) == NOT_RACED


def test_front_members_take_their_sweeps_sigma_and_spelling(snapshots):
    members = [
        {"kind": "isotropic", "init": 1.0, "sub_epoch": 0},
        {"kind": "learned", "init": 0.25, "sub_epoch": 2},
    ]
    chosen = front_candidates(members, [snapshots])
    assert [c[:3] for c in chosen] == [("isotropic", "1", 0), ("learned", "0.25", 2)]  # "1": the path's spelling
    assert float(chosen[0][3]) == 1.0 and torch.equal(chosen[1][3], snapshots.at(2))
    with pytest.raises(ValueError, match="snapshots of its sweep"):
        front_candidates(members)
