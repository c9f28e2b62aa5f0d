"""What every stage script does first: log to snakemake.log[0], honour snakemake.threads, pick the
device once. Kept outside the library, which knows nothing of Snakemake."""

import platform
import sys

import torch

from nusmooth.runtime import keep_freed_memory_for_reuse


def start(snakemake) -> torch.device:
    """Send stdout/stderr to the rule's log, set torch's threads, return the device to use.

    CUDA is used only when the rule was granted a ``gpu`` resource and a GPU is visible.
    """
    log = open(snakemake.log[0], "w", buffering=1)
    sys.stdout = sys.stderr = log
    torch.set_num_threads(snakemake.threads)
    keep_freed_memory_for_reuse()
    wants_gpu = int(snakemake.resources.get("gpu", 0)) > 0
    device = torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")
    print(f"rule {snakemake.rule} wildcards={dict(snakemake.wildcards)} threads={snakemake.threads} device={device}")
    print(f"python {platform.python_version()} torch {torch.__version__}")
    return device


def seeded_generator(seed: int, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def fig1_choices(choice_paths, dataset: str) -> list:
    """``(folder, choice)`` for each Figure-1 choice.json of ``dataset``
    (paths look like results/certify/<dataset>/fig1_init_<init>/choice.json)."""
    import json
    from pathlib import Path

    found = []
    for path in map(Path, choice_paths):
        if path.parent.parent.name == dataset:
            found.append((path.parent, json.loads(path.read_text())))
    return found
