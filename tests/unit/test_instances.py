"""Variants and replicates (nusmooth.instances): the names replicates run under, the data each reads, and
the derivation that gives every replicate random streams of its own."""

import itertools

import pytest

from nusmooth.instances import INSTANCE_PATTERN, data_owner, replicate_name, replicate_names, split_replicate
from nusmooth.registry import DATASETS, facts_for
from nusmooth.seeds import STREAM_PARTS, stream_name, stream_seed


def test_replicate_one_is_the_dataset_itself_and_the_others_are_named_by_their_number():
    assert replicate_names("mnist", 3) == ["mnist", "mnist-r2", "mnist-r3"]
    assert replicate_names("mnist_noise", 1) == ["mnist_noise"]
    for name in ("mnist", "mnist-r2", "mnist_noise-r12"):
        assert replicate_name(*split_replicate(name)) == name
    assert split_replicate("mnist-r12") == ("mnist", 12)


@pytest.mark.parametrize("bad", ["mnist-r1", "mnist-r0", "mnist-r02", "mnist-x2"])
def test_a_name_that_no_replicate_runs_under_is_refused(bad):
    with pytest.raises(ValueError, match="not a replicate's name"):
        split_replicate(bad)


def test_replicates_are_numbered_from_one_and_named_from_a_block():
    with pytest.raises(ValueError, match="numbered from 1"):
        replicate_name("mnist", 0)
    with pytest.raises(ValueError, match="instance name already"):
        replicate_name("mnist-r2", 2)


def test_the_wildcard_pattern_takes_every_name_and_no_other():
    import re

    pattern = re.compile(INSTANCE_PATTERN)
    assert all(pattern.fullmatch(n) for n in ("mnist", "fashion_mnist-r2", "mnist_noise-r10"))
    assert not any(pattern.fullmatch(n) for n in ("mnist-r1", "mnist-", "mnist-r", "mnist-r2-r3"))


def test_a_variant_and_every_replicate_read_the_built_in_datasets_data_and_facts():
    datasets = {"mnist": {"of": None}, "mnist_noise": {"of": "mnist"}}
    assert [data_owner(n, datasets) for n in ("mnist", "mnist-r2", "mnist_noise", "mnist_noise-r3")] == ["mnist"] * 4
    for name, block in (("mnist_noise", {"of": "mnist", "title": "MNIST (noisy)"}), ("mnist-r2", {})):
        facts = facts_for(name, block)
        assert facts.name == name and facts.pool_sizes == DATASETS["mnist"].pool_sizes
        assert facts.arch == "mnist_cnn" and not facts.majority_dominated
    assert facts_for("mnist_noise", {"of": "mnist", "title": "MNIST (noisy)"}).title == "MNIST (noisy)"
    assert facts_for("mnist", {}) is DATASETS["mnist"]


#: One value of every stream part but the dataset, per stage: the streams a job of that stage draws.
OTHER_PARTS = {"purpose": "noise", "init": "0.25", "kind": "learned", "split": "test"}


@pytest.mark.parametrize("stage", sorted(STREAM_PARTS))
def test_every_stage_names_its_streams_by_dataset_so_every_replicate_draws_its_own(stage):
    """The derivation a replicate's independence rests on: every stage's streams are named by the dataset
    (the base model's init and dropout, batch order and noise augmentation; sigma learning's noise and
    order; the validation and test sweeps; Figure 1's certification), so the replicates of one block
    (the same settings, the same user seeds) draw different streams, and replicate 1 draws today's."""
    assert "dataset" in STREAM_PARTS[stage]
    parts = {key: OTHER_PARTS[key] for key in STREAM_PARTS[stage] if key != "dataset"}
    names = replicate_names("mnist", 3) + replicate_names("mnist_noise", 2)
    seeds = [stream_seed(0, *stream_name(stage, dataset=name, **parts)) for name in names]
    assert len(set(seeds)) == len(seeds)
    assert seeds[0] == stream_seed(0, *stream_name(stage, dataset="mnist", **parts))


def test_the_train_base_streams_of_two_replicates_never_collide():
    purposes = ("init and dropout", "subset", "order", "noise")
    streams = [
        stream_seed(0, *stream_name("train_base", dataset=name, purpose=purpose))
        for name, purpose in itertools.product(replicate_names("mnist", 3), purposes)
    ]
    assert len(set(streams)) == len(streams)
