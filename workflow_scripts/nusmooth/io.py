"""Reading and writing the pipeline's files.

Writes are crash-safe and byte-reproducible: the data goes to a temporary file beside the target,
is flushed to disk, and only then renamed into place, so a file appears under its final name only
once it is complete; the same object always gives the same bytes. A full disk raises
:class:`DiskFullError`, which names the folder and the fix, and leaves any older file in place.

Reads of intermediate torch files go through :func:`load_artifact`: every record is checked against
the CRC-32 its save recorded (torch's reader does not check them), the load is safe (tensors and
plain data only), and a damaged or foreign file raises :class:`ArtifactError`, which names the file
and the rule to rerun.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import pickle
import pickletools
import tempfile
import zipfile
import zlib
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

    _atomic_write(path, lambda handle: _save_with_checksums(torch, obj, handle), binary=True)


def _save_with_checksums(torch, obj, handle) -> None:
    """``torch.save`` with a CRC-32 recorded for every record (torch's default, which a user setting
    could turn off): the loads verify them, so a file written without them would never load."""
    serialization = torch.serialization
    before = serialization.get_crc32_options()
    serialization.set_crc32_options(True)
    try:
        torch.save(obj, handle)
    finally:
        serialization.set_crc32_options(before)


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


#: Modules whose globals a file of tensors and plain data names (torch's rebuild functions and storage
#: types, OrderedDict state dicts, bytes under pickle protocol 2); any other global is a foreign object.
_PLAIN_DATA_MODULES = ("torch", "collections", "_codecs")


def archive_problem(path) -> str | None:
    """What is wrong with the zip container of the torch file ``path``, or None when every record is intact.

    torch's zip writer records a CRC-32 for every record, but its reader never checks them, so a
    flipped byte inside a tensor would load as a silently different number. Python's ``zipfile``
    checks each record against its CRC-32. The answer comes from what zipfile found, never from the
    wording of an error.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()  # reads every record; the first whose CRC-32 or header is wrong
    except zipfile.BadZipFile:
        return "it is not a complete torch archive (empty, truncated, or not a torch file at all)"
    except (EOFError, zlib.error, ValueError, OSError) as error:
        if isinstance(error, PermissionError):
            raise
        return f"it is not a complete torch archive (reading its records failed: {type(error).__name__})"
    if damaged is not None:
        return f"its record {damaged} fails its CRC-32 check (its bytes changed after it was written)"
    return None


def _pickled_globals(payload: bytes) -> list[str]:
    """The ``module.name`` globals a pickle names, read from its opcodes without running any of it."""
    names, strings, memo = [], [], {}
    for opcode, argument, _ in pickletools.genops(payload):
        if opcode.name == "GLOBAL":
            names.append(argument.replace(" ", "."))
        elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
            names.append(f"{strings[-2]}.{strings[-1]}")
        elif opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            strings.append(argument)
        elif opcode.name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
            memo[argument] = strings[-1]
        elif opcode.name == "MEMOIZE" and strings:
            memo[len(memo)] = strings[-1]
        elif opcode.name in ("BINGET", "LONG_BINGET", "GET") and argument in memo:
            strings.append(memo[argument])
    return names


def foreign_globals(path) -> list[str]:
    """Globals named by the pickle inside the torch file ``path`` that are not tensor or plain-data
    types: what a safe load refuses. Empty when the file cannot be read that far."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [name for name in archive.namelist() if name.endswith("data.pkl")]
            payload = archive.read(pickles[0]) if pickles else b""
        names = _pickled_globals(payload)
    except Exception:  # noqa: BLE001 - a description only: an unreadable pickle just gets none
        return []
    foreign = {name for name in names if name.split(".")[0] not in _PLAIN_DATA_MODULES}
    return sorted(foreign)


def load_failure_reason(error: BaseException, path=None) -> str:
    """Why ``torch.load(..., weights_only=True)`` of ``path`` failed, in a few words.

    Classified by the error's type and by what our own reading of the file finds, never by torch's
    wording, and never passing on torch's text (which advises allow-listing globals or an unsafe load).
    """
    if isinstance(error, pickle.UnpicklingError):
        refused = foreign_globals(path) if path is not None else []
        suffix = f" (it names {', '.join(refused)})" if refused else ""
        return f"it is not a torch file of tensors and plain data, which is all a safe load accepts{suffix}"
    if isinstance(error, EOFError):
        return "it ends early (empty or truncated)"
    problem = archive_problem(path) if path is not None and Path(path).is_file() else None
    if problem is not None:
        return problem
    return f"torch cannot read it ({type(error).__name__})"


class UnreadableTorchFile(Exception):
    """A torch file that cannot be used; ``reason`` says why in a few words (safe to print)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def read_torch_file(path):
    """The object in the torch file ``path``, on the CPU, after checking every record's CRC-32 and
    loading safely (``weights_only=True``: tensors and plain data only, no code runs).

    Raises :class:`UnreadableTorchFile` for a damaged or foreign file; MemoryError and PermissionError
    pass through (the file may be fine).
    """
    import torch

    problem = archive_problem(path)
    if problem is not None:
        raise UnreadableTorchFile(problem)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (MemoryError, PermissionError):
        raise
    except Exception as error:  # noqa: BLE001 - every failure of a load means the file is unusable
        # ``from None``: torch's own message (in the chained traceback) would advise weights_only=False.
        raise UnreadableTorchFile(load_failure_reason(error, path)) from None


def load_artifact(path, producer: str, expected_keys: Iterable[str] = ()):
    """The object in the pipeline's torch file ``path``, checked against the CRC-32 of every record and
    loaded safely (``weights_only=True``) on the CPU.

    ``producer`` is the rule that writes the file; ``expected_keys``, if given, are keys the loaded
    dict must have. Raises :class:`ArtifactError` naming the file and how to rebuild it when the file
    is missing, unreadable (truncated, corrupt, not a torch file, holds arbitrary Python objects) or
    lacks an expected key. Each stage reads its files through :mod:`nusmooth.artifacts`, which
    knows every file's producer and keys.
    """
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(
            f"{path} is a folder, not a file. Fix: remove that folder, then rerun the same snakemake command"
        )
    if not path.exists():
        raise ArtifactError(
            f"{path} does not exist. Fix: run snakemake so that rule {producer} writes it (e.g. snakemake {path} --cores 1)"
        )
    try:
        obj = read_torch_file(path)
    except PermissionError as error:
        raise ArtifactError(f"{path} cannot be read ({error.strerror}). Fix: make it readable by this user") from None
    except UnreadableTorchFile as error:
        raise ArtifactError(
            f"{path} is damaged or was not written by this pipeline: {error.reason}. {_rebuild_fix(path, producer)}"
        ) from None
    missing = [key for key in expected_keys if not isinstance(obj, dict) or key not in obj]
    if missing:
        found = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise ArtifactError(
            f"{path} was not written by rule {producer} of this pipeline: it lacks {missing} (found {found}). "
            f"{_rebuild_fix(path, producer)}"
        )
    return obj
