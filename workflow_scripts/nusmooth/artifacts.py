"""The contract of every file that one rule writes and another reads: its path in the workflow, the rule
that writes it, its keys (or columns) and, for tensors, their dtype and rank; ``CONTRACT.save(value,
path)`` and ``CONTRACT.load(path)`` write and read it (a table, a dict, or the record the contract
names). Stage scripts read and write these files only through this module.

A load refuses a file that is missing, damaged (every record of a torch file is checked against the
CRC-32 its save recorded, see :func:`nusmooth.io.load_artifact`), foreign, or short of a key, with an
:class:`~nusmooth.io.ArtifactError` that names the file, what is wrong and the rule to rerun.

torch is imported inside the functions that need it: the plot and table jobs start without it. The
torch files' payloads are built here exactly as the stages always built them (same keys in the same
order, same types), so the saved bytes do not change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field, fields
from pathlib import Path

import pandas as pd

from .io import (
    ArtifactError,
    atomic_torch_save,
    atomic_write_json,
    atomic_write_tsv,
    atomic_write_tsv_gz,
    load_artifact,
)
from .convergence import COLUMNS as CONVERGENCE_COLUMNS
from .registry import FIG1_KINDS, SIGMA_KINDS, SPLITS


@dataclass(frozen=True, eq=False)  # one object per kind: compared (and hashed) by identity
class Artifact:
    """One kind of file passed between rules.

    ``pattern`` is the path the workflow gives it (an ``output:`` of rule ``rule``); ``keys`` are the keys
    of its dict (torch, JSON) or the columns of its table (TSV) that a reader may rely on; ``tensors``
    maps a key to the dtype (a torch dtype name, or "floating") and rank its tensor must have;
    ``record`` turns a loaded payload into what :meth:`load` returns (else the payload itself). The
    pattern's suffix says how the file is written: ``.pt`` torch, ``.json`` JSON, ``.tsv`` a table,
    ``.tsv.gz`` a gzip-compressed, byte-reproducible table.
    """

    description: str
    pattern: str
    rule: str
    keys: tuple[str, ...]
    _: KW_ONLY
    tensors: dict = field(default_factory=dict)
    record: Callable[[dict], object] | None = None

    def save(self, value, path) -> None:
        """Write ``value`` to ``path`` as this contract asks: a DataFrame for a table, a dict or an
        object with ``to_payload()`` (a record, a prepared dataset) for a torch or JSON file."""
        if self.pattern.endswith(".tsv.gz"):
            _save_table(self, value, path, atomic_write_tsv_gz)
        elif self.pattern.endswith(".tsv"):
            _save_table(self, value, path, atomic_write_tsv)
        else:
            payload = value.to_payload() if hasattr(value, "to_payload") else value
            (_save_json if self.pattern.endswith(".json") else _save_torch)(self, payload, path)

    def load(self, path):
        """Read ``path``, checked against this contract: a DataFrame, a dict, or the contract's record.
        A missing, damaged or foreign file raises an ArtifactError naming it and the rule to rerun."""
        if self.pattern.endswith((".tsv", ".tsv.gz")):
            return _load_table(self, path)
        payload = (_load_json if self.pattern.endswith(".json") else _load_torch)(self, path)
        return self.record(payload) if self.record is not None else payload

    def fix(self, path) -> str:
        return (
            f"Fix: rerun the rule that writes it, rule {self.rule}: add -R {self.rule} to your snakemake command "
            f"(or delete {path} and rerun the same command)"
        )

    def missing(self, path, what: str, absent: Sequence[str], found: Sequence[str]) -> ArtifactError:
        return ArtifactError(
            f"{path} ({self.description}) was not written by rule {self.rule} of this pipeline: it lacks "
            f"{list(absent)}, {what} that its readers need (its {what}: {sorted(map(str, found))}). {self.fix(path)}"
        )


# --- the records some files hold -----------------------------------------------------------------


class _Record:
    """A file's payload as an object: its fields are the contract's keys, in the order they are saved
    (so the saved bytes are those of the dict the stages always wrote)."""

    def to_payload(self) -> dict:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @classmethod
    def from_payload(cls, payload: dict):
        return cls(**{item.name: payload[item.name] for item in fields(cls)})


@dataclass(frozen=True)
class SigmaSnapshots(_Record):
    """One sigma sweep (optimize_sigma): the sigma after every sub-epoch, from one initial constant."""

    init: float
    sigmas: object  # tensor (sub-epochs, C, H, W)
    sub_epochs: list
    pixel_space: str

    @classmethod
    def of_sweep(cls, snapshots: Sequence, init, pixel_space: str) -> SigmaSnapshots:
        """The sigmas learned after sub-epochs 1, 2, ... (a list of tensors) of the sweep from ``init``."""
        import torch

        return cls(float(init), torch.stack(list(snapshots)), list(range(1, len(snapshots) + 1)), pixel_space)

    def items(self) -> list:
        """``(sub_epoch, sigma)`` of every snapshot."""
        return list(zip(self.sub_epochs, self.sigmas))

    def at(self, sub_epoch: int):
        return self.sigmas[self.sub_epochs.index(sub_epoch)]


@dataclass(frozen=True)
class Fig1Sigmas(_Record):
    """Figure 1's learned sigma vector and the isotropic sigmas tied to it (0-d tensors): ``isotropic`` at
    its arithmetic mean (the paper's comparator), ``geometric`` at its geometric mean."""

    learned: object
    isotropic: object
    geometric: object

    @classmethod
    def of(cls, learned, *, isotropic: float, geometric: float) -> Fig1Sigmas:
        import torch

        return cls(learned, torch.tensor(isotropic), torch.tensor(geometric))

    def of_kind(self, kind: str):
        """The sigma that certificates of ``kind`` (one of registry.FIG1_KINDS) use."""
        if kind not in FIG1_KINDS:
            raise ValueError(f"unknown sigma kind {kind!r}; choose one of {list(FIG1_KINDS)}")
        return getattr(self, kind)


@dataclass(frozen=True)
class MeanValImage(_Record):
    mean_image: object  # tensor (C, H, W) in [0, 1]
    points: int


def _prepared_dataset(payload: dict):
    """A :class:`~nusmooth.data.PreparedDataset` (imported here: this module starts without torch)."""
    from .data import PreparedDataset

    return PreparedDataset.from_payload(payload)


# --- the contracts --------------------------------------------------------------------------------

DATASET = Artifact(
    "prepared dataset",
    "results/data/{dataset}/dataset.pt",
    "prepare_data",
    keys=("name", "classes", "mean", "std"),
    tensors={
        f"{split}_{part}": spec
        for split in SPLITS
        for part, spec in (("images", ("uint8", 4)), ("labels", ("int64", 1)))
    },
    record=_prepared_dataset,
)
MODEL = Artifact(
    "base model checkpoint",
    "results/models/{dataset}/model.pt",
    "train_base",
    keys=("arch", "num_classes", "mean", "std", "train_config", "state_dict"),
)
SNAPSHOTS = Artifact(
    "sigma snapshots, one per sub-epoch",
    "results/sigma/{dataset}/init_{init}/snapshots.pt",
    "optimize_sigma",
    keys=("init", "sigmas", "sub_epochs", "pixel_space"),
    tensors={"sigmas": ("floating", 4)},  # (sub-epochs, C, H, W)
    record=SigmaSnapshots.from_payload,
)
FIG1_SIGMAS = Artifact(
    "Figure 1's learned sigma and its isotropic counterparts",
    "results/certify/{dataset}/fig1_init_{init}/sigmas.pt",
    "select_fig1_sigma",
    keys=FIG1_KINDS,
    tensors={"learned": ("floating", 3), "isotropic": ("floating", 0), "geometric": ("floating", 0)},
    record=Fig1Sigmas.from_payload,
)
FIG1_CHOICE = Artifact(
    "Figure 1's choice of snapshot",
    "results/certify/{dataset}/fig1_init_{init}/choice.json",
    "select_fig1_sigma",
    keys=(
        "init",
        "isotropic_sigma",
        "geometric_sigma",
        "rule",
        "sigma_space",
        "sub_epoch",
        "val",
        "dimension",
        "sum_log_sigma",
        "min_sigma",
    ),
)
MEAN_VAL_IMAGE = Artifact(
    "mean validation image",
    "results/data/{dataset}/mean_val_image.pt",
    "summarize_test_split",
    keys=("mean_image", "points"),
    tensors={"mean_image": ("floating", 3)},
    record=MeanValImage.from_payload,
)
CLASS_COUNTS = Artifact(
    "class counts of every split",
    "results/data/{dataset}/class_counts.tsv",
    "summarize_test_split",
    keys=("split", "class_index", "class", "count", "share"),
)
_CERTIFICATE_COLUMNS = (
    "idx",
    "label",
    "predict",
    "pa_lower",
    "phi_inv_pa_lower",
    "certified_area",
    "correct",
    "time",
    "n_a",
    "n",
    "l2_radius",
    "geometric_mean_radius",
    "sigma_space",
    "precision",
)
CERTIFICATES = Artifact(
    "certificates, one row per test point",
    "results/certify/{dataset}/fig1_init_{init}/{kind}.tsv",
    "certify",
    keys=_CERTIFICATE_COLUMNS,
)
ENVELOPE_CERTIFICATES = Artifact(
    "certificates of one constant of the isotropic envelope's grid, one row per point (validation: every "
    "constant of the grid; test: the constants chosen on validation)",
    "results/certify/{dataset}/envelope/sigma_{constant}/{split}.tsv",
    "certify_envelope",
    keys=_CERTIFICATE_COLUMNS,
)
ENVELOPE_CHOICE = Artifact(
    "the isotropic envelope's constant at each threshold of Figure 1's grid, chosen on validation",
    "results/certify/{dataset}/envelope/choice.tsv",
    "choose_envelope",
    keys=("view", "threshold", "constant", "val_certified", "val_points", "val_accuracy", "precision"),
)
#: A sweep metrics row: the candidate, its numbers over the points it was certified on, the settings,
#: and how far the validation race took it (``race_stage``: the last stage it ran in, 0 on the test
#: split, which is not raced; ``complete``: it has every point of the split, so fronts and choices may
#: read it).
_SWEEP_METRIC_COLUMNS = (
    "kind",
    "init",
    "sub_epoch",
    "split",
    "accuracy",
    "mean_area",
    "points",
    "sigma_mean",
    "n0",
    "n",
    "alpha",
    "sigma_space",
    "precision",
    "accuracy_lower",
    "accuracy_upper",
    "mean_area_lower",
    "mean_area_upper",
    "race_stage",
    "complete",
)
#: One row per candidate and point: the certificate, and (last) the stage of the race it reached.
_SWEEP_RECORD_COLUMNS = (
    "kind",
    "init",
    "sub_epoch",
    "split",
    "idx",
    "label",
    "predict",
    "n_a",
    "n",
    "pa_lower",
    "phi_inv_pa_lower",
    "certified_area",
    "l2_radius",
    "geometric_mean_radius",
    "correct",
    "precision",
    "race_stage",
)
SWEEP_METRICS = Artifact(
    "sweep metrics, one row per snapshot",
    "results/sweep/{dataset}/{kind}_{init}/{split}.tsv",
    "evaluate_sigma",
    keys=_SWEEP_METRIC_COLUMNS,
)
SWEEP_RECORDS = Artifact(
    "sweep certificates, one row per snapshot and point (gzip TSV)",
    "results/sweep/{dataset}/{kind}_{init}/{split}_records.tsv.gz",
    "evaluate_sigma",
    keys=_SWEEP_RECORD_COLUMNS,
)
RACE_BLOCK = Artifact(
    "one racing stage's validation certificates of a sweep's running candidates (gzip TSV)",
    "results/sweep/{dataset}/{kind}_{init}/val_stage{stage}_records.tsv.gz",
    "race_stage",
    keys=_SWEEP_RECORD_COLUMNS[:-1],
)
RACE_STAGE = Artifact(
    "what one racing stage of a sweep certified: its block, its candidates, the points and input size",
    "results/sweep/{dataset}/{kind}_{init}/val_stage{stage}.json",
    "race_stage",
    keys=("kind", "init", "stage", "schedule", "val_points", "num_elements", "block", "certified"),
)
RACE_DECISION = Artifact(
    "one racing stage's decision of a dataset: the candidates that go on (nusmooth.racing.decide_stage)",
    "results/sweep/{dataset}/race/decision_{stage}.json",
    "decide_race",
    keys=("stage", "points", "plan", "candidates", "levels", "survivors", "dropped", "bounds"),
)
VAL_FRONTS = Artifact(
    "each kind's Figure 2 front chosen on validation, and the members certified on test",
    "results/sweep/{dataset}/val_fronts.json",
    "choose_fronts",
    keys=("rule", "test_front_members", "kinds"),
)
FRONT_TEST_METRICS = Artifact(
    "test metrics of one kind's front members, one row per member",
    "results/sweep/{dataset}/front_{kind}/test.tsv",
    "certify_front",
    keys=_SWEEP_METRIC_COLUMNS,
)
FRONT_TEST_RECORDS = Artifact(
    "test certificates of one kind's front members, one row per member and point (gzip TSV)",
    "results/sweep/{dataset}/front_{kind}/test_records.tsv.gz",
    "certify_front",
    keys=_SWEEP_RECORD_COLUMNS,
)
FIG2_POINTS = Artifact(
    "Figure 2's points of one dataset",
    "results/tables/{dataset}/fig2_points.tsv",
    "tabulate_fig2",
    keys=SWEEP_METRICS.keys + ("on_val_front",),
)
FIG2_FRONT = Artifact(
    "Figure 2's fronts of one dataset (chosen on validation, test metrics drawn)",
    "results/tables/{dataset}/fig2_front.tsv",
    "tabulate_fig2",
    keys=(
        "kind",
        "front_position",
        "init",
        "sub_epoch",
        "sigma_mean",
        "val_accuracy",
        "val_mean_area",
        "val_points",
        "test_accuracy",
        "test_mean_area",
        "test_points",
        "drawn",
        "n0",
        "n",
        "alpha",
        "sigma_space",
        "test_accuracy_lower",
        "test_accuracy_upper",
        "test_mean_area_lower",
        "test_mean_area_upper",
        "precision",
        "val_front_size",
    ),
)

_CERTIFIED_ACCURACY_COLUMNS = (
    "sigma",
    "view",
    "threshold",
    "certified",
    "points",
    "certified_accuracy",
    "lower",
    "upper",
    "precision",
)
CERTIFIED_ACCURACY = Artifact(
    "certified accuracy of Figure 1's sigmas at fixed certified areas, with Wilson intervals",
    "results/tables/{dataset}/certified_accuracy.tsv",
    "tabulate_certified_accuracy",
    keys=_CERTIFIED_ACCURACY_COLUMNS,
)
CERTIFIED_ACCURACY_L2 = Artifact(
    "certified accuracy of Figure 1's sigmas at fixed l2 radii, with Wilson intervals",
    "results/tables/{dataset}/certified_accuracy_l2.tsv",
    "tabulate_certified_accuracy",
    keys=_CERTIFIED_ACCURACY_COLUMNS,
)
_PAIRED_COLUMNS = (
    "learned",
    "comparator",
    "isotropic",
    "view",
    "threshold",
    "points",
    "accuracy_learned",
    "accuracy_isotropic",
    "only_learned",
    "only_isotropic",
    "difference",
    "lower",
    "upper",
    "precision",
)
PAIRED_DIFFERENCES = Artifact(
    "learned minus each comparator's certified accuracy at the tables' thresholds, with paired 95% intervals",
    "results/tables/{dataset}/paired_differences.tsv",
    "tabulate_certified_accuracy",
    keys=_PAIRED_COLUMNS,
)
PAIRED_BANDS = Artifact(
    "learned minus each comparator over the whole band grid, with the simultaneous 95% band and its verdict",
    "results/tables/{dataset}/paired_bands.tsv",
    "tabulate_certified_accuracy",
    keys=_PAIRED_COLUMNS + ("band_lower", "band_upper", "verdict"),
)
#: One row per contiguous range of grid thresholds with one verdict (nusmooth.verdicts).
_VERDICT_RANGE_COLUMNS = (
    "comparison",
    "comparator",
    "view",
    "verdict",
    "first",
    "last",
    "thresholds",
    "grid",
    "learned_ceiling",
    "precision",
)
VERDICT_RANGES = Artifact(
    "where the learned sigma and each comparator win on Figure 1's band grid, as ranges of thresholds",
    "results/tables/{dataset}/verdict_ranges.tsv",
    "tabulate_certified_accuracy",
    keys=_VERDICT_RANGE_COLUMNS,
)
FRONT_VERDICTS = Artifact(
    "Figure 2's fronts compared at each area of a grid (nusmooth.front_comparison)",
    "results/tables/{dataset}/front_verdicts.tsv",
    "compare_fig2_fronts",
    keys=("threshold", "verdict", "best_learned", "best_isotropic", "accuracy_learned", "accuracy_isotropic"),
)
FRONT_VERDICT_RANGES = Artifact(
    "where each of Figure 2's fronts wins, as ranges of mean certified areas",
    "results/tables/{dataset}/front_verdict_ranges.tsv",
    "compare_fig2_fronts",
    keys=_VERDICT_RANGE_COLUMNS,
)
LEARNING_ACCURACY = Artifact(
    "validation accuracy after each sub-epoch of sigma learning against the accuracy at its initial constant",
    "results/tables/{dataset}/accuracy_during_learning.tsv",
    "tabulate_sigma_learning",
    keys=(
        "init",
        "sub_epoch",
        "points",
        "accuracy_initial",
        "accuracy_learned",
        "difference",
        "lower",
        "upper",
        "tolerance",
        "verdict",
    ),
)
DATA_SUMMARY = Artifact(
    "summary of the prepared dataset (JSON): images per split and class",
    "results/data/{dataset}/summary.json",
    "prepare_data",
    keys=("counts", "classes", "input_shape"),
)
BASE_HISTORY = Artifact(
    "the base model's training, one row per epoch (clean validation accuracy)",
    "results/models/{dataset}/history.tsv",
    "train_base",
    keys=("epoch", "train_loss", "val_accuracy"),
)
SIGMA_HISTORY = Artifact(
    "one sigma sweep's optimisation, one row per sub-epoch",
    "results/sigma/{dataset}/init_{init}/history.tsv",
    "optimize_sigma",
    keys=("sub_epoch", "learning_rate", "mean_loss", "counted_fraction", "skipped_batches"),
)
CONVERGENCE = Artifact(
    "sigma learning per sub-epoch of every Figure-1 sweep of a block and its replicates (nusmooth.convergence)",
    "results/convergence/{dataset}/sub_epochs.tsv",
    "plot_convergence",
    keys=("instance", "replicate", "init", *CONVERGENCE_COLUMNS),
)
PASS_RATES = Artifact(
    "passes per second of each kind and architecture on the machine that ran the measurement (JSON)",
    "results/cost/pass_rates.json",
    "measure_pass_rates",
    keys=("machine", "batches", "rates"),
)
REGION_SUMMARY = Artifact(
    "robust / non-robust regions of every Figure-1 vector of one dataset",
    "results/sigma_regions/{dataset}/summary.tsv",
    "find_sigma_regions",
    keys=("group", "pixels", "fraction", "border_share", "border_share_of_image", "border_width", "init", "sub_epoch"),
)

#: Every contract, for the tests that hold them against the workflow's rules.
ALL = (
    DATASET,
    MODEL,
    SNAPSHOTS,
    FIG1_SIGMAS,
    FIG1_CHOICE,
    MEAN_VAL_IMAGE,
    CLASS_COUNTS,
    CERTIFICATES,
    ENVELOPE_CERTIFICATES,
    ENVELOPE_CHOICE,
    SWEEP_METRICS,
    SWEEP_RECORDS,
    RACE_BLOCK,
    RACE_STAGE,
    RACE_DECISION,
    VAL_FRONTS,
    FRONT_TEST_METRICS,
    FRONT_TEST_RECORDS,
    FIG2_POINTS,
    FIG2_FRONT,
    CERTIFIED_ACCURACY,
    CERTIFIED_ACCURACY_L2,
    PAIRED_DIFFERENCES,
    PAIRED_BANDS,
    VERDICT_RANGES,
    FRONT_VERDICTS,
    FRONT_VERDICT_RANGES,
    LEARNING_ACCURACY,
    REGION_SUMMARY,
    PASS_RATES,
    DATA_SUMMARY,
    BASE_HISTORY,
    SIGMA_HISTORY,
    CONVERGENCE,
)


# --- shared checks --------------------------------------------------------------------------------


def _check_tensors(spec: Artifact, path, payload: dict) -> None:
    """Each tensor the contract describes (when present) has its dtype and rank."""
    import torch

    for key, (dtype, rank) in spec.tensors.items():
        if key not in payload:
            continue
        value = payload[key]
        if not isinstance(value, torch.Tensor):
            problem = f"is a {type(value).__name__}, not a tensor"
        elif not (value.is_floating_point() if dtype == "floating" else value.dtype == getattr(torch, dtype)):
            problem = f"has dtype {value.dtype}, not {dtype}"
        elif value.dim() != rank:
            problem = f"has {value.dim()} dimensions {tuple(value.shape)}, not {rank}"
        else:
            continue
        raise ArtifactError(f"{path} ({spec.description}): its {key!r} {problem}. {spec.fix(path)}")


def _save_torch(spec: Artifact, payload: dict, path) -> None:
    absent = [key for key in spec.keys if key not in payload]
    if absent:  # a bug in the writer, not in a file: say so before anything is written
        raise ValueError(f"{spec.description} for {path} lacks {absent}; the contract asks for {list(spec.keys)}")
    _check_tensors(spec, path, payload)
    atomic_torch_save(payload, path)


def _load_torch(spec: Artifact, path) -> dict:
    payload = load_artifact(path, spec.rule)  # missing, damaged or foreign: names the file and the rule
    if not isinstance(payload, dict):
        raise spec.missing(path, "keys", spec.keys, [type(payload).__name__])
    absent = [key for key in spec.keys if key not in payload]
    if absent:
        raise spec.missing(path, "keys", absent, payload)
    _check_tensors(spec, path, payload)
    return payload


def _missing_file(spec: Artifact, path) -> ArtifactError:
    return ArtifactError(
        f"{path} ({spec.description}) does not exist. Fix: run snakemake so that rule {spec.rule} writes it "
        f"(e.g. snakemake {path} --cores 1)"
    )


def _unreadable(spec: Artifact, path, reason: str) -> ArtifactError:
    return ArtifactError(f"{path} is damaged or was not written by this pipeline: {reason}. {spec.fix(path)}")


# --- JSON files and tables ----------------------------------------------------------------------


def _save_json(spec: Artifact, payload: dict, path) -> None:
    absent = [key for key in spec.keys if key not in payload]
    if absent:
        raise ValueError(f"{spec.description} for {path} lacks {absent}; the contract asks for {list(spec.keys)}")
    atomic_write_json(payload, path)


def _load_json(spec: Artifact, path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise _missing_file(spec, path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _unreadable(spec, path, f"it is not JSON ({type(error).__name__}: {error})") from None
    if not isinstance(payload, dict):
        raise spec.missing(path, "keys", spec.keys, [type(payload).__name__])
    absent = [key for key in spec.keys if key not in payload]
    if absent:
        raise spec.missing(path, "keys", absent, payload)
    return payload


def _save_table(spec: Artifact, frame, path, write) -> None:
    absent = [column for column in spec.keys if column not in frame.columns]
    if absent:
        raise ValueError(
            f"{spec.description} for {path} lacks columns {absent}; the contract asks for {list(spec.keys)}"
        )
    write(frame, path)


def _load_table(spec: Artifact, path):
    path = Path(path)
    if not path.is_file():
        raise _missing_file(spec, path)
    try:
        frame = pd.read_csv(path, sep="\t")
    except (UnicodeDecodeError, EOFError, OSError, pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise _unreadable(spec, path, f"it is not a tab-separated table ({type(error).__name__})") from None
    absent = [column for column in spec.keys if column not in frame.columns]
    if absent:
        raise spec.missing(path, "columns", absent, frame.columns)
    return frame


# --- Figure 1's inputs, together -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Fig1Result:
    """One Figure-1 vector of one dataset: the choice, the test certificates of the learned sigma and of
    its isotropic counterparts at the arithmetic (``isotropic``) and geometric (``geometric``) means,
    and the validation records (chosen learned snapshot, isotropic sweep of the same constant) that fix
    the thresholds and x-ranges."""

    dataset: str
    choice: dict
    learned: object  # DataFrame of certificates
    isotropic: object
    geometric: object
    validation: list
    #: Every file read, in the order ``[learned, isotropic, geometric, validation...]`` (names frames in errors).
    sources: list

    @property
    def frames(self) -> list:
        return [self.learned, self.isotropic, self.geometric, *self.validation]


def load_fig1_results(
    datasets: Sequence[str],
    *,
    choices: Sequence,
    learned: Sequence,
    isotropic: Sequence,
    geometric: Sequence,
    val_learned: Sequence,
    val_isotropic: Sequence,
) -> list[Fig1Result]:
    """The Figure-1 vectors of plot_fig1 / tabulate_certified_accuracy: one file of each list per vector
    (its choice, its learned, arithmetic-mean and geometric-mean certificates, the validation records
    of its learned and isotropic sweeps), and ``datasets`` the dataset of each, in the same order."""
    results = []
    for dataset, choice_path, learned, isotropic, geometric, val_learned, val_isotropic in zip(
        datasets, choices, learned, isotropic, geometric, val_learned, val_isotropic, strict=True
    ):
        choice = FIG1_CHOICE.load(choice_path)
        chosen = SWEEP_RECORDS.load(val_learned)
        validation = [chosen[chosen["sub_epoch"] == choice["sub_epoch"]], SWEEP_RECORDS.load(val_isotropic)]
        results.append(
            Fig1Result(
                dataset=dataset,
                choice=choice,
                learned=CERTIFICATES.load(learned),
                isotropic=CERTIFICATES.load(isotropic),
                geometric=CERTIFICATES.load(geometric),
                validation=validation,
                sources=[learned, isotropic, geometric, val_learned, val_isotropic],
            )
        )
    return results


@dataclass(frozen=True, kw_only=True)
class EnvelopeResult:
    """The isotropic envelope of one dataset: its choice on validation (one constant per view and
    threshold) and the test certificates of every chosen constant, by constant."""

    dataset: str
    choice: object  # DataFrame (ENVELOPE_CHOICE)
    test: dict
    sources: list

    @property
    def frames(self) -> list:
        return [self.choice, *self.test.values()]


def load_envelopes(datasets: Sequence[str], *, choices: Sequence, tests: Sequence) -> dict[str, EnvelopeResult]:
    """Each dataset's envelope: its choice file and the test certificates of its chosen constants, in
    the order of :func:`nusmooth.envelope.chosen_constants` (the order rules/common.smk lists them in).
    ``tests`` holds every dataset's files one after the other; each file is taken by its constant."""
    from .envelope import chosen_constants

    envelopes, remaining = {}, list(tests)
    for dataset, choice_path in zip(datasets, choices, strict=True):
        choice = ENVELOPE_CHOICE.load(choice_path)
        constants = chosen_constants(choice)
        mine, remaining = remaining[: len(constants)], remaining[len(constants) :]
        if len(mine) != len(constants):
            raise ValueError(f"{dataset}: the envelope chose {len(constants)} constants but {len(mine)} files came")
        test = {constant: ENVELOPE_CERTIFICATES.load(path) for constant, path in zip(constants, mine)}
        envelopes[dataset] = EnvelopeResult(dataset=dataset, choice=choice, test=test, sources=[choice_path, *mine])
    if remaining:
        raise ValueError(f"{len(remaining)} envelope certificate files beyond the chosen constants: {remaining[:3]}")
    return envelopes
