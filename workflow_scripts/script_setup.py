"""What every stage script shares: its log, threads and error reporting (:func:`run_stage`), the
device, the base model as the config's ``compute`` block asks, and seeded generators. Kept outside
the library, which knows nothing of Snakemake."""

import platform
import sys
import traceback

from nusmooth.runtime import keep_freed_memory_for_reuse
from nusmooth.seeds import stream_seed


def run_stage(snakemake, main) -> None:
    """Run ``main(snakemake)`` with stdout/stderr in the rule's log and torch on the rule's threads.

    A failure writes the full traceback to the log and its last line (the error and, for the
    project's own errors, the fix) to the terminal, where the user is looking: Snakemake itself
    only reports the exit status and the log's path.
    """
    terminal = sys.stderr
    log = open(snakemake.log[0], "w", buffering=1)
    sys.stdout = sys.stderr = log
    keep_freed_memory_for_reuse()
    print(f"rule {snakemake.rule} wildcards={dict(snakemake.wildcards)} threads={snakemake.threads}")
    torch = sys.modules.get("torch")  # imported by the script's own imports when it computes anything
    if torch is not None:
        torch.set_num_threads(snakemake.threads)
    print(f"python {platform.python_version()} torch {torch.__version__ if torch else '(not needed)'}")
    try:
        main(snakemake)
    except Exception as error:
        traceback.print_exc()
        where = ", ".join(f"{key}={value}" for key, value in dict(snakemake.wildcards).items())
        terminal.write(f"\nError in rule {snakemake.rule} ({where}): {type(error).__name__}: {error}\n"
                       f"(full log: {snakemake.log[0]})\n\n")
        terminal.flush()
        raise SystemExit(1) from None
    finally:
        log.flush()


def compute_device(snakemake):
    """CUDA only when the rule was granted a ``gpu`` resource and a GPU is visible."""
    import torch

    torch.set_num_threads(snakemake.threads)  # whatever the script imported before run_stage
    wants_gpu = int(snakemake.resources.get("gpu", 0)) > 0
    device = torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")
    print(f"device={device}")
    return device


def stream_generator(device, user_seed: int, *stream):
    """A ``torch.Generator`` on ``device`` seeded for the named stream (see :mod:`nusmooth.seeds`)."""
    import torch

    seed = stream_seed(user_seed, *stream)
    print(f"random stream {'/'.join(map(str, stream))}: seed {seed} (from user seed {user_seed})")
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def base_model(snakemake, device):
    """The rule's base model (``input.model``) prepared as ``params.compute`` asks, the precision every
    forward pass of it runs in, and a fingerprint of its weights (what a resume state is valid for)."""
    from nusmooth.acceleration import configure_backends, prepare_model
    from nusmooth.artifacts import checkpoint_weights
    from nusmooth.models import load_checkpoint
    from nusmooth.resume import content_fingerprint

    compute = snakemake.params.compute
    configure_backends(device, cudnn_benchmark=compute["cudnn_benchmark"])
    model, checkpoint = load_checkpoint(snakemake.input.model, device)
    print(f"compute settings: {compute}")
    fingerprint = content_fingerprint(checkpoint_weights(checkpoint))
    return prepare_model(model, channels_last=compute["channels_last"], compile=compute["compile"]), compute["precision"], fingerprint
