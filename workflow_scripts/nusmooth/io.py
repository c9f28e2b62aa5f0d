"""Reading and writing the pipeline's files.

Writes are crash-safe and byte-reproducible: the data goes to a temporary file beside the target,
is flushed to disk, and only then renamed into place, so a file appears under its final name only
once it is complete; the same object always gives the same bytes. A full disk raises
:class:`DiskFullError`, which names the folder and the fix, and leaves any older file in place.

Reads of intermediate torch files go through :func:`load_artifact`: safe (tensors and plain data
only), and a damaged or foreign file raises :class:`ArtifactError`, which names the file and the
rule to rerun.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


#: errno values that mean "the device (or the user's quota on it) is full".
_FULL_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT}

#: torch's zip writer reports a short write (its stream refused bytes) as "unexpected pos A vs B".
_TORCH_SHORT_WRITE = "unexpected pos"


class DiskFullError(OSError):
    """A write failed for lack of space; nothing was left under the target's name."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


class ArtifactError(RuntimeError):
    """An intermediate file is missing, damaged, or was not written by this pipeline."""


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_disk_full(error: BaseException | None) -> bool:
    """True for ENOSPC / EDQUOT, and for torch's short-write error, anywhere in the error's chain."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _FULL_DISK_ERRNOS:
            return True
        if isinstance(error, RuntimeError) and _TORCH_SHORT_WRITE in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _disk_full_error(path: Path) -> DiskFullError:
    folder = path.parent.resolve()
    return DiskFullError(
        f"no space left on the device holding {folder} while writing {path.name}; nothing was written "
        f"under {path} (an older file there, if any, is unchanged). "
        "Fix: free space on that device, then rerun the same command"
    )


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; some file systems cannot fsync a folder, which is harmless."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _atomic_write(path, write: Callable, binary: bool) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, fsync it, then rename it to ``path``.

    On any failure the temporary file is removed and ``path`` is untouched; a full disk becomes a
    :class:`DiskFullError`.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        # Text is written as UTF-8 with "\n" line ends whatever the platform, so bytes never vary.
        options = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(descriptor, "wb" if binary else "w", **options) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if _is_disk_full(error):
            raise _disk_full_error(path) from error
        raise
    _fsync_folder(path.parent)


def atomic_torch_save(obj, path) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically, byte-reproducibly.

    torch names the records inside its zip after the file it writes to; saving through an open
    handle gives them a fixed name instead of the temporary file's random one.
    """
    import torch  # here, not at the top: the plot and table jobs write no torch file

    _atomic_write(path, lambda handle: torch.save(obj, handle), binary=True)


def atomic_write_text(text: str, path) -> None:
    _atomic_write(path, lambda handle: handle.write(text), binary=False)


def atomic_write_json(obj, path) -> None:
    atomic_write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def atomic_write_tsv(frame, path) -> None:
    """Write a pandas DataFrame as TSV atomically."""
    _atomic_write(path, lambda handle: frame.to_csv(handle, sep="\t", index=False, lineterminator="\n"), binary=False)


def atomic_write_tsv_gz(frame, path) -> None:
    """Write a pandas DataFrame as gzip-compressed TSV atomically, byte-reproducibly.

    The gzip header is written by hand with no file name and a zero time stamp (pandas would put the
    temporary file's random name and the current time there), so the same frame gives the same bytes.
    """
    import gzip

    def write(handle):
        with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as packed:
            packed.write(frame.to_csv(sep="\t", index=False, lineterminator="\n").encode("utf-8"))

    _atomic_write(path, write, binary=True)


def atomic_save_figure(figure, path, **savefig_options) -> None:
    """``figure.savefig`` to ``path`` atomically; the format comes from the suffix. A PDF gets no
    creation date, so the same figure gives the same bytes."""
    path = Path(path)
    kind = path.suffix.lstrip(".").lower()
    if kind == "pdf":
        savefig_options.setdefault("metadata", {"CreationDate": None})
    _atomic_write(path, lambda handle: figure.savefig(handle, format=kind, **savefig_options), binary=True)


def _rebuild_fix(path: Path, producer: str) -> str:
    return (
        f"Fix: rerun the rule that writes it, rule {producer}: add -R {producer} to your snakemake command "
        f"(or delete {path} and rerun the same command)"
    )


def load_failure_reason(error: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` failed, in a few words; never passes on torch's advice
    to load unsafely."""
    text = str(error)
    if isinstance(error, pickle.UnpicklingError):
        # Only torch's first sentence (what was refused): the sentences after it advise allow-listing
        # the global, which would run the file's code.
        detail = re.search(r"unsupported (?:global|operand)[^\n]*?(?=\. |\.$|$)", text, flags=re.IGNORECASE)
        suffix = f" ({detail.group(0).strip()})" if detail else ""
        return f"it is not a torch file of tensors and plain data, which is all a safe load accepts{suffix}"
    if isinstance(error, EOFError):
        return "it ends early (empty or truncated)"
    if "PytorchStreamReader" in text:
        return f"it is not a complete torch archive (truncated or corrupt: {text.split('. ')[0]})"
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    if "weights_only" in first_line or not first_line:
        return f"torch cannot read it ({type(error).__name__})"
    return f"torch cannot read it ({type(error).__name__}: {first_line[:200]})"


def load_artifact(path, producer: str, expected_keys: Iterable[str] = ()):
    """The object in the pipeline's torch file ``path``, loaded safely (``weights_only=True``) on the CPU.

    ``producer`` is the rule that writes the file; ``expected_keys``, if given, are keys the loaded
    dict must have. Raises :class:`ArtifactError` naming the file and how to rebuild it when the file
    is missing, unreadable (truncated, corrupt, not a torch file, holds arbitrary Python objects) or
    lacks an expected key.
    """
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(f"{path} is a folder, not a file. Fix: remove that folder, then rerun the same snakemake command")
    if not path.exists():
        raise ArtifactError(
            f"{path} does not exist. Fix: run snakemake so that rule {producer} writes it (e.g. snakemake {path} --cores 1)"
        )
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except PermissionError as error:
        raise ArtifactError(f"{path} cannot be read ({error.strerror}). Fix: make it readable by this user") from None
    except Exception as error:  # noqa: BLE001 - every failure of a load means the file is unusable
        # ``from None``: torch's own message (in the chained traceback) would advise weights_only=False.
        raise ArtifactError(
            f"{path} is damaged or was not written by this pipeline: {load_failure_reason(error)}. {_rebuild_fix(path, producer)}"
        ) from None
    missing = [key for key in expected_keys if not isinstance(obj, dict) or key not in obj]
    if missing:
        found = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise ArtifactError(
            f"{path} was not written by rule {producer} of this pipeline: it lacks {missing} (found {found}). "
            f"{_rebuild_fix(path, producer)}"
        )
    return obj
