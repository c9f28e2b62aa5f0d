"""Resume state for long jobs: one file that a killed job continues from.

A state is valid only for what produced it (settings, data, a fixed model...), its *identity*.
Identities are compared by content (:func:`content_fingerprint`), never by file bytes, so a model
file rewritten with the same weights keeps a saved state valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath
from typing import Protocol

import numpy as np
import torch
from torch import nn

from .io import UnreadableTorchFile, atomic_torch_save, read_torch_file


def content_fingerprint(obj) -> str:
    """SHA-256 (hex) of ``obj``'s content, canonically encoded.

    Accepts None, bools, ints, floats, strings, bytes, paths, tensors and NumPy arrays (dtype, shape
    and values; any device, any memory layout), modules (their ``state_dict``), dataclasses, lists /
    tuples (the same) and mappings (key order ignored). Equal content gives an equal fingerprint;
    raises TypeError for anything else.
    """
    digest = hashlib.sha256()
    _feed(digest, obj)
    return digest.hexdigest()


def _feed_bytes(digest, tag: bytes, data) -> None:
    """``tag``, the length, then the bytes: every encoding is self-delimiting, so none is a prefix of another."""
    view = memoryview(data).cast("B")
    digest.update(tag + len(view).to_bytes(8, "little"))
    digest.update(view)


def _tensor_bytes(tensor: torch.Tensor) -> np.ndarray:
    flat = tensor.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy()


def _feed(digest, obj) -> None:
    if obj is None:
        digest.update(b"N")
    elif isinstance(obj, (bool, np.bool_)):
        digest.update(b"B1" if obj else b"B0")
    elif isinstance(obj, (int, np.integer)):
        _feed_bytes(digest, b"I", str(int(obj)).encode())
    elif isinstance(obj, (float, np.floating)):
        _feed_bytes(digest, b"F", float(obj).hex().encode())
    elif isinstance(obj, str):
        _feed_bytes(digest, b"S", obj.encode("utf-8"))
    elif isinstance(obj, PurePath):
        _feed_bytes(digest, b"P", str(obj).encode("utf-8"))
    elif isinstance(obj, (bytes, bytearray)):
        _feed_bytes(digest, b"Y", obj)
    elif isinstance(obj, torch.Tensor):
        _feed_bytes(digest, b"T", f"{obj.dtype}{tuple(obj.shape)}".encode())
        _feed_bytes(digest, b"V", _tensor_bytes(obj))
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("content_fingerprint cannot hash NumPy arrays of Python objects; give numeric arrays")
        _feed_bytes(digest, b"A", f"{obj.dtype.str}{obj.shape}".encode())
        _feed_bytes(digest, b"V", np.ascontiguousarray(obj).reshape(-1).view(np.uint8))
    elif isinstance(obj, nn.Module):
        _feed_bytes(digest, b"M", type(obj).__qualname__.encode())
        _feed(digest, obj.state_dict())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        _feed_bytes(digest, b"C", type(obj).__qualname__.encode())
        _feed(digest, {field.name: getattr(obj, field.name) for field in dataclasses.fields(obj)})
    elif isinstance(obj, Mapping):
        items = sorted(((content_fingerprint(key), value) for key, value in obj.items()), key=lambda item: item[0])
        digest.update(b"D" + len(items).to_bytes(8, "little"))
        for key_print, value in items:
            digest.update(bytes.fromhex(key_print))
            _feed(digest, value)
    elif isinstance(obj, (list, tuple)):
        digest.update(b"L" + len(obj).to_bytes(8, "little"))
        for item in obj:
            _feed(digest, item)
    else:
        raise TypeError(
            f"content_fingerprint cannot hash a {type(obj).__name__}; give tensors, arrays, modules, numbers, "
            "strings, lists or dicts of them"
        )


class ResumeFile:
    """The resume state of one job at ``path``, valid only for ``identity``.

    ``identity`` is anything :func:`content_fingerprint` accepts, e.g. ``{"settings": settings,
    "data": (images, labels), "model": model}``; it is fingerprinted once, here, so pass a model
    whose weights the job does not change.
    """

    def __init__(self, path, identity):
        self.path = Path(path)
        self.identity = content_fingerprint(identity)

    def load(self):
        """The saved state, or None (no file; saved for another identity; unreadable, then deleted)."""
        if not self.path.exists():
            return None
        try:
            saved = read_torch_file(self.path)  # MemoryError, PermissionError pass: the file may be fine
        except UnreadableTorchFile as error:  # whatever is wrong with it, the job can start afresh
            return self._discard(error.reason)
        if not isinstance(saved, dict) or not {"identity", "state"} <= saved.keys():
            return self._discard("it holds no resume state of this pipeline")
        identity, state = saved["identity"], saved["state"]
        if identity != self.identity:
            print(
                f"ignoring resume file {self.path}: saved for other settings, data or model; starting afresh "
                "(this run overwrites it)"
            )
            return None
        print(f"resuming from {self.path}")
        return state

    def _discard(self, reason: str) -> None:
        print(f"WARNING: resume file {self.path} cannot be used: {reason}; deleted it, starting afresh")
        self.path.unlink(missing_ok=True)

    def save(self, state) -> None:
        """Write ``state`` (tensors and plain data) atomically, tagged with this identity."""
        atomic_torch_save({"identity": self.identity, "state": state}, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class Resumable(Protocol):
    """A long job made of numbered steps (epochs, sub-epochs) whose state can be saved and restored."""

    @property
    def steps_done(self) -> int: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def resumed_steps(resume: ResumeFile, job: Resumable, total: int) -> Iterator[int]:
    """The steps ``job`` has left of ``total`` (numbered from 1), after restoring the state that
    ``resume`` holds for it; the job's state is saved after each step, so a job killed at any moment
    continues after its last whole step, and ends as an uninterrupted run would. The caller runs one
    step per item, and removes the file once the job's outputs are written."""
    saved = resume.load()
    if saved is not None:
        job.load_state_dict(saved)
    for step in range(job.steps_done + 1, total + 1):
        yield step
        resume.save(job.state_dict())
