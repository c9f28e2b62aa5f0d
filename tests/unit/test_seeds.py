"""Independent random streams: every stage, split and kind has its own, reproducibly."""

import itertools

import pytest
import yaml

from nusmooth.seeds import stream_seed
from support.workflow import REPO


def test_a_stream_is_reproducible_and_63_bit():
    seed = stream_seed(0, "certify", "mnist5k", "0.25", "learned", "test")
    assert seed == stream_seed(0, "certify", "mnist5k", "0.25", "learned", "test")
    assert 0 <= seed < 2**63


def test_a_stream_seed_is_pinned_across_processes_and_versions():
    """The value itself is fixed (same on every machine and Python process, so a rerun reproduces old
    results): a per-process hash, or any change of the derivation, changes it. Also checked against the
    documented formula: the first 8 bytes of SHA-256 of the \\x1f-joined parts, top bit cleared."""
    import hashlib

    seed = stream_seed(0, "certify", "mnist5k", "0.25", "learned", "test")
    assert seed == 3685589343849215068
    words = "\x1f".join(["nusmooth/v1", "0", "certify", "mnist5k", "0.25", "learned", "test"]).encode()
    assert seed == int.from_bytes(hashlib.sha256(words).digest()[:8], "big") & (2**63 - 1)
    # A float part is written as repr(float): 0.25 names the same stream as "0.25".
    assert stream_seed(1, "evaluate_sigma", "mnist5k", "learned", 0.25, "val") == 337730694481742616
    assert stream_seed(1, "evaluate_sigma", "mnist5k", "learned", 0.25, "val") == stream_seed(
        1, "evaluate_sigma", "mnist5k", "learned", "0.25", "val"
    )


def test_streams_of_the_paper_preset_never_collide():
    """Every stream the paper preset's DAG draws from, for two user seeds: all distinct."""
    preset = yaml.safe_load((REPO / "presets/paper.yaml").read_text())
    names = []
    for dataset, block in preset["datasets"].items():
        inits = [f"{v:g}" for v in block["sigma"]["inits"]]
        for init in inits:
            names += [("optimize_sigma", dataset, init, purpose) for purpose in ("noise", "order")]
            names += [
                ("evaluate_sigma", dataset, kind, init, split)
                for kind, split in itertools.product(("learned", "isotropic"), ("val", "test"))
            ]
            names += [("certify", dataset, init, kind, "test") for kind in ("learned", "isotropic")]
        names += [("train_base", dataset, "init and dropout"), ("train_base", dataset, "order")]
    seeds = [stream_seed(user, *name) for user in (0, 1) for name in names]
    assert len(names) > 1000
    assert len(set(seeds)) == len(seeds)


def test_stages_that_share_a_user_seed_draw_different_noise():
    import torch

    def first_draws(*stream):
        generator = torch.Generator().manual_seed(stream_seed(0, *stream))
        return torch.randn(1000, generator=generator)

    validation = first_draws("evaluate_sigma", "mnist5k", "learned", "0.25", "val")
    test = first_draws("evaluate_sigma", "mnist5k", "learned", "0.25", "test")
    figure1 = first_draws("certify", "mnist5k", "0.25", "learned", "test")
    training = first_draws("optimize_sigma", "mnist5k", "0.25", "noise")
    for a, b in itertools.combinations([validation, test, figure1, training], 2):
        assert not torch.equal(a, b)
    assert torch.equal(validation, first_draws("evaluate_sigma", "mnist5k", "learned", "0.25", "val"))


def test_a_separator_inside_a_name_is_refused():
    with pytest.raises(ValueError, match="separator"):
        stream_seed(0, "a\x1fb")
