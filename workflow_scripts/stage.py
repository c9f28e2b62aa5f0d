"""What every stage script shares: its log, threads and error reporting (:func:`run_stage`), the
device, the base model as the config's ``compute`` block asks, and seeded generators. Kept outside
the library, which knows nothing of Snakemake. (The Snakefile's own helpers are in
``workflow_config.py``, ``workflow_locks.py`` and ``slurm_site.py``.)

torch and the modules that import it are imported inside the functions that need them: the plot and
table jobs use :func:`run_stage` too and start without torch."""

import os
import platform
import re
import sys
import threading
import time
import traceback
import warnings

from nusmooth.memory import keep_freed_memory_for_reuse
from nusmooth.seeds import stream_name, stream_seed


def run_stage(snakemake, main) -> None:
    """Run ``main(snakemake)`` with stdout/stderr in the rule's log and torch on the rule's threads.

    The terminal gets one line when the job starts and one when it ends, with the few words ``main``
    returns (its key number: an accuracy, a sigma), so that a run's progress shows without opening
    logs; a job still running after PROGRESS_VARIABLE seconds repeats its log's latest line there at
    that interval (its epoch, sub-epoch or certification bar: GPU jobs of the paper preset run for
    hours). A failure writes the full traceback to the log and its last line (the error and, for the
    project's own errors, the fix) to the terminal, where the user is looking: Snakemake itself
    only reports the exit status and the log's path.
    """
    terminal, every = sys.stderr, progress_interval(os.environ)
    where = ", ".join(f"{key}={value}" for key, value in dict(snakemake.wildcards).items())
    job = f"{snakemake.rule}" + (f" ({where})" if where else "")
    started = time.monotonic()
    _say(terminal, f"{job}: started")
    log = open(snakemake.log[0], "w", buffering=1)
    sys.stdout = sys.stderr = log
    keep_freed_memory_for_reuse()
    print(f"rule {snakemake.rule} wildcards={dict(snakemake.wildcards)} threads={snakemake.threads}")
    torch = sys.modules.get("torch")  # imported by the script's own imports when it computes anything
    if torch is not None:
        torch.set_num_threads(snakemake.threads)
    print(f"python {platform.python_version()} torch {torch.__version__ if torch else '(not needed)'}")
    stop_reporting = _report_progress_while_running(terminal, job, snakemake.log[0], started, every)
    try:
        outcome = main(snakemake)
    except Exception as error:
        stop_reporting()  # before the error's lines, so that no progress line follows them
        traceback.print_exc()
        terminal.write(
            f"\nError in rule {snakemake.rule} ({where}): {type(error).__name__}: {error}\n"
            f"(full log: {snakemake.log[0]})\n\n"
        )
        terminal.flush()
        raise SystemExit(1) from None
    finally:
        stop_reporting()
        log.flush()
    _say(terminal, f"{job}: done in {time.monotonic() - started:.0f} s" + (f": {outcome}" if outcome else ""))


def _say(terminal, line: str) -> None:
    terminal.write(f"[{time.strftime('%H:%M:%S')}] {line}\n")
    terminal.flush()


# Seconds between two progress lines of a running job on the terminal (0: none). Every two minutes
# keeps a local run's screen readable with a couple of jobs at once; under SLURM the lines go to the
# job's own output file.
PROGRESS_VARIABLE = "NUSMOOTH_PROGRESS_SECONDS"
DEFAULT_PROGRESS_SECONDS = 120.0


def progress_interval(environ) -> float:
    """PROGRESS_VARIABLE's seconds (DEFAULT_PROGRESS_SECONDS when unset), refused before the job starts
    when it is not a number of seconds."""
    value = environ.get(PROGRESS_VARIABLE, "").strip()
    try:
        every = float(value) if value else DEFAULT_PROGRESS_SECONDS
    except ValueError:
        every = -1.0
    if not every >= 0:
        raise SystemExit(
            f"{PROGRESS_VARIABLE}={value!r} is not a number of seconds. Fix: set it to the seconds between "
            "two progress lines of a running job on the terminal (0 turns them off), or unset it"
        )
    return every


def _report_progress_while_running(terminal, job: str, log_path: str, started: float, every: float):
    """Start a daemon thread that writes ``job``'s running time and its log's latest line to the
    terminal every ``every`` seconds (none when 0); calling the returned function stops it (and waits for
    a line being written, so that none follows the job's last); calling it again does nothing."""
    stop = threading.Event()

    def report():
        while not stop.wait(every):
            minutes = (time.monotonic() - started) / 60
            latest = latest_log_line(log_path)
            _say(terminal, f"{job}: running for {minutes:.1f} min" + (f": {latest}" if latest else ""))

    reporter = threading.Thread(target=report, name=f"progress of {job}", daemon=True)
    if every > 0:
        reporter.start()

    def stop_reporting():
        stop.set()
        if reporter.is_alive():
            reporter.join()

    return stop_reporting


def latest_log_line(path: str, *, tail_bytes: int = 4096, width: int = 160) -> str:
    """The last non-empty line of a log, a progress bar's latest state included (tqdm rewrites its
    line with carriage returns), cut to ``width`` characters; "" when the log has none yet."""
    try:
        with open(path, "rb") as log:
            log.seek(max(0, os.path.getsize(path) - tail_bytes))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]
    return lines[-1][:width] if lines else ""


# Where a scheduler (or the user) says which GPUs a job was given. SLURM sets the first two for a job
# with --gpus or --gres=gpu, and CUDA_VISIBLE_DEVICES as well; values that mean "none" are ignored.
GPU_ASSIGNMENT_VARIABLES = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES")
NO_GPU_VALUES = ("", "-1", "NoDevFiles", "none")
# Set to 1 to run on the CPU although a GPU was assigned and torch cannot use it (the SLURM test
# cluster does: its node advertises a GPU that is not one).
ALLOW_CPU_VARIABLE = "NUSMOOTH_ALLOW_CPU_WITH_ASSIGNED_GPU"


class GpuUnusableError(RuntimeError):
    """A GPU was assigned to the job but torch cannot use it; the message gives the cause and the fix."""


def assigned_gpu(environ) -> str | None:
    """``NAME=value`` of the first variable saying that this job was given a GPU, None when none was."""
    for name in GPU_ASSIGNMENT_VARIABLES:
        value = environ.get(name, "").strip()
        if value not in NO_GPU_VALUES:
            return f"{name}={value}"
    return None


def _cuda_unusable_cause(torch, warnings_seen) -> str:
    """Why torch.cuda.is_available() said no, in words (with torch's own warning when it gave one)."""
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is a CPU-only build"
    cause = (
        f"torch {torch.__version__} is built for CUDA {torch.version.cuda} and cannot use the GPU: usually the node's "
        f"NVIDIA driver is older than CUDA {torch.version.cuda} needs (compare `nvidia-smi`'s 'CUDA Version' on the node)"
    )
    return cause + "".join(f"; torch says: {message}" for message in warnings_seen)


def compute_device(snakemake, environ=None):
    """CUDA when the job was assigned a GPU (by the scheduler: SLURM_JOB_GPUS, CUDA_VISIBLE_DEVICES, ...)
    or the rule asks for a ``gpu`` resource, and torch can use one; otherwise the CPU.

    A job that was assigned a GPU which torch cannot use stops at once with the cause and the fix,
    instead of running for hours on the CPU until its time limit (set ALLOW_CPU_VARIABLE=1 to
    accept the CPU). Deciding from the assignment also covers jobs that got their GPU through
    ``--gres=gpu:1`` without the rule's ``gpu`` resource.
    """
    import torch

    environ = os.environ if environ is None else environ
    torch.set_num_threads(snakemake.threads)  # whatever the script imported before run_stage
    assigned = assigned_gpu(environ)
    wants_gpu = int(snakemake.resources.get("gpu", 0)) > 0 or assigned is not None
    with warnings.catch_warnings(record=True) as seen:  # torch warns with the driver's complaint
        warnings.simplefilter("always")
        cuda = wants_gpu and torch.cuda.is_available()
    if assigned and not cuda and environ.get(ALLOW_CPU_VARIABLE, "") != "1":
        raise GpuUnusableError(
            f"this job was assigned a GPU ({assigned}) but torch cannot use it: "
            f"{_cuda_unusable_cause(torch, [str(w.message) for w in seen])}. Fix: install a torch build whose CUDA "
            "version the node's driver supports (pip install torch==<version> --index-url "
            "https://download.pytorch.org/whl/cu<XY>), or run on nodes with a newer driver (a GPU model or "
            f"constraint, see docs/slurm.md); to run on the CPU anyway, set {ALLOW_CPU_VARIABLE}=1"
        )
    device = torch.device("cuda" if cuda else "cpu")
    print(f"device={device}" + (f" (assigned GPU: {assigned})" if assigned else ""))
    return device


def stream_generator(device, user_seed: int, stage: str, **parts):
    """A ``torch.Generator`` on ``device`` seeded for ``stage``'s stream named by ``parts`` (see
    :func:`nusmooth.seeds.stream_name`)."""
    import torch

    stream = stream_name(stage, **parts)
    seed = stream_seed(user_seed, *stream)
    print(f"random stream {'/'.join(map(str, stream))}: seed {seed} (from user seed {user_seed})")
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def fig1_results(snakemake) -> list:
    """The rule's Figure-1 vectors (its inputs of rules/common.smk's fig1_inputs, one file of each list
    per vector; ``params.datasets`` names the dataset of each), loaded by nusmooth.artifacts."""
    from nusmooth.artifacts import load_fig1_results

    inputs = snakemake.input
    return load_fig1_results(
        snakemake.params.datasets,
        choices=inputs.choices,
        learned=inputs.learned,
        isotropic=inputs.isotropic,
        geometric=inputs.geometric,
        val_learned=inputs.val_learned,
        val_isotropic=inputs.val_isotropic,
    )


def envelope_results(snakemake) -> dict:
    """Each dataset's isotropic envelope among the rule's Figure-1 inputs (rules/common.smk's
    fig1_inputs: a choice file per dataset, then the chosen constants' test certificates)."""
    from nusmooth.artifacts import load_envelopes

    datasets = list(dict.fromkeys(snakemake.params.datasets))
    inputs = snakemake.input
    return load_envelopes(datasets, choices=inputs.envelope_choices, tests=inputs.envelope_tests)


def base_model(snakemake, device):
    """The rule's base model (``input.model``) prepared as ``params.compute`` asks, the precision every
    forward pass of it runs in, and a fingerprint of its weights (what a resume state is valid for)."""
    from nusmooth.forward import configure_backends, prepare_model
    from nusmooth.checkpoints import load_checkpoint
    from nusmooth.resume import content_fingerprint

    compute = snakemake.params.compute
    configure_backends(device, cudnn_benchmark=compute["cudnn_benchmark"])
    model, checkpoint = load_checkpoint(snakemake.input.model, device)
    print(f"compute settings: {compute}")
    fingerprint = content_fingerprint(checkpoint["state_dict"])
    return (
        prepare_model(model, channels_last=compute["channels_last"], compile=compute["compile"]),
        compute["precision"],
        fingerprint,
    )


# --- the sweeps' jobs (race_stage, evaluate_sigma, certify_front) ---------------------------------


def sweep_job(snakemake, dataset, split: str, stage: int | None = None):
    """The rule's :class:`nusmooth.sweeps.SweepJob`: stage ``stage`` (None: the last) of the sweep
    ``(kind, init)`` of its wildcards on ``split`` of ``dataset``, from ``params.evaluation`` (n0, n,
    points and, on validation, the racing stages; the test split is one stage), ``params.batch_size``,
    the sweep's snapshots (learned) and the race's decision before this stage when the rule reads one."""
    from nusmooth.artifacts import RACE_DECISION, SNAPSHOTS
    from nusmooth.racing import whole_batch_points, workflow_schedule
    from nusmooth.sweeps import SweepJob, sweep_candidates

    settings, inputs, wildcards = snakemake.params.evaluation, snakemake.input, snakemake.wildcards
    snapshots = SNAPSHOTS.load(inputs.snapshots) if hasattr(inputs, "snapshots") else None
    points = (
        len(dataset.splits[split])
        if settings["points"] is None
        else min(len(dataset.splits[split]), settings["points"])
    )
    unit = whole_batch_points(settings["n0"], settings["n"], snakemake.params.batch_size)
    schedule = workflow_schedule(points, settings.get("stages", (1.0,)), unit)
    return SweepJob(
        kind=wildcards.kind,
        init=wildcards.init,
        stage=len(schedule) if stage is None else stage,
        schedule=schedule,
        candidates=sweep_candidates(wildcards.kind, wildcards.init, snapshots),
        decision=RACE_DECISION.load(inputs.decision) if hasattr(inputs, "decision") else None,
        raced="stages" in settings,
    )


def certify_for_sweeps(snakemake, dataset, split: str, members, device, active=None):
    """Records of ``members`` (``(kind, init, sub_epoch, sigma)``) on ``split``, each with a fresh generator
    of its own sweep's stream (evaluate_sigma / dataset / kind / init / split: common random numbers, the
    same noise whichever job certifies it) and ``params.evaluation``'s settings; no rows and no model
    loaded when there is no member."""
    from nusmooth.records import BLOCK_COLUMNS
    from nusmooth.sweeps import certify_candidates

    import pandas as pd

    if not members:
        return pd.DataFrame(columns=BLOCK_COLUMNS)
    settings, name = snakemake.params.evaluation, snakemake.wildcards.dataset
    model, precision, _ = base_model(snakemake, device)
    return certify_candidates(
        model,
        dataset.splits[split],
        members,
        split_name=split,
        new_generator=lambda kind, init: stream_generator(
            device, settings["seed"], "evaluate_sigma", dataset=name, kind=kind, init=init, split=split
        ),
        active=active,
        num_classes=len(dataset.classes),
        n0=settings["n0"],
        n=settings["n"],
        alpha=snakemake.params.alpha,
        batch_size=snakemake.params.batch_size,
        limit=settings["points"],
        device=device,
        precision=precision,
    )
