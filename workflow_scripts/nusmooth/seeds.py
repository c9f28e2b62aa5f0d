"""One independent random stream per stage, derived from the user's seed.

Every stage that draws noise (sigma optimisation, the validation and test sweeps, Figure 1's
certification) must not share noise with another: the noise that chose a sigma must never be the
noise that certifies it, and validation and test must not see the same draws. Seeding every stage
with the user's seed directly would give all of them the same stream. Instead each stream's seed is

    SHA-256("nusmooth/v1", user seed, stage, dataset, split or kind, constant, ...)  -> first 8 bytes

as a non-negative 63-bit integer: distinct for every distinct tuple, the same on every machine and in
every rerun (so a rerun of a stage is bit-identical on the same device), and independent of
Python's hash randomisation. The parts are joined with a separator that cannot occur in them.
"""

from __future__ import annotations

import hashlib

_VERSION = "nusmooth/v1"

#: The parts that name each stage's streams, in the order they are hashed. The order fixes every
#: stream's seed, hence every reported number: a stage's parts are never reordered (the seeds of
#: today's streams are pinned by tests/unit/test_seeds.py). ``purpose`` names one of a job's streams.
STREAM_PARTS = {
    "train_base": ("dataset", "purpose"),
    "optimize_sigma": ("dataset", "init", "purpose"),
    "evaluate_sigma": ("dataset", "kind", "init", "split"),
    "certify": ("dataset", "init", "kind", "split"),
}


def stream_name(stage: str, **parts) -> tuple:
    """``(stage, part, ...)``: the name of one of ``stage``'s streams, its parts in the order of
    :data:`STREAM_PARTS` (each given by keyword, so no caller can put them in another order)."""
    if stage not in STREAM_PARTS:
        raise ValueError(f"no random streams for stage {stage!r}; stages: {sorted(STREAM_PARTS)}")
    expected = STREAM_PARTS[stage]
    if set(parts) != set(expected):
        raise ValueError(f"a {stage} stream is named by {list(expected)}, got {sorted(parts)}")
    return (stage, *(parts[key] for key in expected))


def stream_seed(user_seed: int, *parts) -> int:
    """The seed of the stream named by ``parts`` (stage, dataset, split, kind, constant, purpose...).

    Numbers are written with ``repr`` of their float value when they are floats, so 0.25 and 0.250
    name the same stream; strings must not contain the separator ``\\x1f``.
    """
    words = [_VERSION, str(int(user_seed))]
    for part in parts:
        word = repr(float(part)) if isinstance(part, float) else str(part)
        if "\x1f" in word:
            raise ValueError(f"stream name part {word!r} contains the separator \\x1f")
        words.append(word)
    digest = hashlib.sha256("\x1f".join(words).encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)
