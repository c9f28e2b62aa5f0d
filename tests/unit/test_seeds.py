"""Independent random streams: every stage, split and kind has its own, reproducibly."""

import itertools

import pytest
import yaml

from nusmooth.registry import CERTIFIED_SPLITS, ENVELOPE_KIND, FIG1_KINDS, SHOWN_SPLIT, SIGMA_KINDS
from nusmooth.seeds import STREAM_PARTS, stream_name, stream_seed
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
            names += [stream_name("optimize_sigma", dataset=dataset, init=init, purpose=p) for p in ("noise", "order")]
            names += [
                stream_name("evaluate_sigma", dataset=dataset, kind=kind, init=init, split=split)
                for kind, split in itertools.product(SIGMA_KINDS, CERTIFIED_SPLITS)
            ]
            names += [
                stream_name("certify", dataset=dataset, init=init, kind=kind, split=SHOWN_SPLIT) for kind in FIG1_KINDS
            ]
        names += [  # the envelope's constants on both splits: never a Figure-1 stream, never each other's
            stream_name("certify", dataset=dataset, init=f"{c:g}", kind=ENVELOPE_KIND, split=split)
            for c in block["fig1"]["envelope"]["constants"]
            for split in CERTIFIED_SPLITS
        ]
        names += [
            stream_name("train_base", dataset=dataset, purpose=p) for p in ("init and dropout", "subset", "order")
        ]
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


#: Every stream the stage scripts draw from, named by its parts, with the seed it had before the parts'
#: order got one home (seeds.STREAM_PARTS): a changed order would change these seeds and every number.
PINNED = [
    ({"stage": "train_base", "dataset": "mnist5k", "purpose": "init and dropout"}, 4297849552885411198),
    ({"stage": "train_base", "dataset": "mnist5k", "purpose": "subset"}, 4567441460522844503),
    ({"stage": "train_base", "dataset": "mnist5k", "purpose": "order"}, 8985955711776674839),
    ({"stage": "optimize_sigma", "dataset": "mnist5k", "init": "0.25", "purpose": "noise"}, 1067058873275517287),
    ({"stage": "optimize_sigma", "dataset": "mnist5k", "init": "0.25", "purpose": "order"}, 8199620714372707263),
    (
        {"stage": "evaluate_sigma", "dataset": "mnist5k", "kind": "isotropic", "init": "0.5", "split": "test"},
        2164330427929224544,
    ),
    (
        {"stage": "certify", "dataset": "mnist5k", "init": "0.25", "kind": "isotropic", "split": "test"},
        1449146487925148094,
    ),
]


@pytest.mark.parametrize(
    "parts,seed", PINNED, ids=[parts["stage"] + "/" + str(i) for i, (parts, _) in enumerate(PINNED)]
)
def test_each_stages_stream_keeps_its_seed(parts, seed):
    assert stream_seed(0, *stream_name(**parts)) == seed


def test_every_stage_that_draws_noise_has_its_parts_and_a_stream_needs_all_of_them():
    assert {parts["stage"] for parts, _ in PINNED} == set(STREAM_PARTS)
    assert stream_name("certify", split="test", kind="learned", init="0.25", dataset="mnist") == (
        "certify",
        "mnist",
        "0.25",
        "learned",
        "test",
    )
    with pytest.raises(
        ValueError, match=r"named by \['dataset', 'init', 'kind', 'split'\], got \['dataset', 'init', 'kind'\]"
    ):
        stream_name("certify", dataset="mnist", init="0.25", kind="learned")
    with pytest.raises(ValueError, match="no random streams for stage 'plot_fig1'"):
        stream_name("plot_fig1", dataset="mnist")


def test_a_separator_inside_a_name_is_refused():
    with pytest.raises(ValueError, match="separator"):
        stream_seed(0, "a\x1fb")
