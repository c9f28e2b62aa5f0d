"""What a dry run can know of a configured model without importing torch or the user's code: whether
a ``model.weights`` or TorchScript file is the kind of file torch writes, and whether the module of a
``module:`` source can be found.

Files are told apart by their container, read with :mod:`zipfile` (no byte of them runs):
``torch.save`` writes a zip archive with ``<name>/data.pkl`` (older torch versions, with
``_use_new_zipfile_serialization=False``, a pickle that starts with torch's magic number);
``torch.jit.save`` writes the same kind of archive with the model's TorchScript source under
``<name>/code/`` and its constants in ``<name>/constants.pkl``. Whether the tensors inside fit the
model is known only when train_base loads them (:mod:`nusmooth.user_models`).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import zipfile
from pathlib import Path

#: The first bytes of a file written by ``torch.save(..., _use_new_zipfile_serialization=False)``: the
#: pickle (protocol 2) of torch's magic number 0x1950a86a20f9469cfc6c.
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def torch_file_kind(path) -> str:
    """``"torchscript"`` (``torch.jit.save``), ``"torch.save"`` (a zip or legacy ``torch.save`` file),
    or ``"other"`` (neither: not a file torch wrote, or a truncated one)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, EOFError, ValueError):
        with open(path, "rb") as handle:
            return "torch.save" if handle.read(len(LEGACY_TORCH_MAGIC)) == LEGACY_TORCH_MAGIC else "other"
    if any("/code/" in name for name in names) and any(name.endswith("/constants.pkl") for name in names):
        return "torchscript"
    if any(name.endswith("/data.pkl") for name in names):
        return "torch.save"
    return "other"


def weights_file_problem(path) -> str | None:
    """Why ``path`` cannot be a ``model.weights`` state_dict (a sentence and its fix), or None when it may be one."""
    kind = torch_file_kind(path)
    if kind == "torchscript":
        return (
            f"{path} is not a model's weights: it is a TorchScript archive (torch.jit.save), which carries its own "
            f"network and weights. Fix: set model.source to torchscript:{path} and model.weights to null"
        )
    if kind == "other":
        return (
            f"{path} is not a model's weights: torch.save did not write it (neither torch's zip archive nor its older "
            "format; an empty or truncated file is neither). Fix: set model.weights to a file written by "
            "torch.save(model.state_dict(), path)"
        )
    return None


def torchscript_file_problem(path) -> str | None:
    """Why ``path`` cannot be a ``torchscript:`` source (a sentence and its fix), or None when it is a
    TorchScript archive."""
    kind = torch_file_kind(path)
    if kind == "torch.save":
        return (
            f"{path} is not a TorchScript archive: torch.save wrote it (a state_dict or a pickled model), so it holds "
            "no TorchScript code. Fix: save the model with torch.jit.save(torch.jit.script(model), path), or name its "
            "network in model.source (torchvision:<arch> or module:<module>:<callable>) and this file in model.weights"
        )
    if kind == "other":
        return (
            f"{path} is not a TorchScript archive (a zip archive holding the model's code/; an empty or truncated file "
            "is not one). Fix: save the model with torch.jit.save(torch.jit.script(model), path) (or torch.jit.trace)"
        )
    return None


def module_can_be_found(name: str) -> bool:
    """Whether ``import name`` would find the module, without running it or its packages' ``__init__``:
    the top-level package is looked up through ``sys.meta_path`` (editable installs included), each
    further part in its parent's folders."""
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        return False
    if parts[0] in sys.modules:
        found = getattr(sys.modules[parts[0]], "__spec__", None)
    else:
        try:
            found = importlib.util.find_spec(parts[0])
        except (ImportError, ValueError):
            return False
    for depth in range(1, len(parts)):
        locations = getattr(found, "submodule_search_locations", None) if found is not None else None
        if not locations:
            return False
        found = importlib.machinery.PathFinder.find_spec(".".join(parts[: depth + 1]), list(locations))
    return found is not None
