"""Crash-safe writes: a file appears under its final name only once it is complete."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj, path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    _atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(text: str, path) -> None:
    def write(tmp):
        with open(tmp, "w") as handle:
            handle.write(text)

    _atomic_write(path, write)


def atomic_write_json(obj, path) -> None:
    atomic_write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def atomic_write_tsv(frame, path) -> None:
    """Write a pandas DataFrame as TSV atomically."""
    _atomic_write(path, lambda tmp: frame.to_csv(tmp, sep="\t", index=False))
