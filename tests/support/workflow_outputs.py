"""Compare the outputs of two runs of the workflow (results/ and figures/).

What "equal" means here. On CPU with the same thread count every stage is deterministic (seeded
generators, deterministic kernels), so the numbers must be identical, not close: no tolerance. Only
content that is not a result of the computation may differ, and is excluded by name:

- the `time` column of certificate TSVs: wall-clock seconds per point, a measurement;
- `/CreationDate` of PDFs, should a PDF carry one (the pipeline writes none).

Every other file (TSV columns, JSON, PNG, and `.pt` files, which the pipeline saves
byte-reproducibly) must be byte-identical; for a `.pt` file that differs, the differing tensors are
named. Hidden files (an atomic write's
temporary file left by a killed job) are ignored: they are never taken as outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

OUTPUT_DIRS = ("results", "figures")
TIMING_COLUMNS = {"time"}
_PDF_DATE = re.compile(rb"/CreationDate \(D:[^)]*\)")


def output_files(root: Path) -> list[str]:
    files = []
    for top in OUTPUT_DIRS:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
                files.append(str(path.relative_to(root)))
    return files


def _tsv_without_timing(path: Path) -> list[list[str]]:
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    keep = [i for i, name in enumerate(rows[0]) if name not in TIMING_COLUMNS]
    return [[row[i] for i in keep] for row in rows]


def _same_objects(a, b, where: str) -> list[str]:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return [f"{where}: tensor vs {type(b).__name__}"]
        if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(a, b):
            return [f"{where}: tensors differ"]
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"]
        return [d for key in a for d in _same_objects(a[key], b[key], f"{where}[{key!r}]")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: lengths {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _same_objects(x, y, f"{where}[{i}]")]
    return [] if (type(a) is type(b) and a == b) else [f"{where}: {a!r} vs {b!r}"]


def differences(reference: Path, other: Path, names: list[str] | None = None) -> list[str]:
    """Human-readable differences between two runs' outputs; empty when they are equal. With ``names``,
    only those files are compared, and each must be in both runs (``other`` ran a target whose
    outputs are part of ``reference``'s)."""
    reference, other = Path(reference), Path(other)
    if names is None:
        names_a, names_b = output_files(reference), output_files(other)
    else:
        names_a = [n for n in names if (reference / n).is_file()]
        names_b = [n for n in names if (other / n).is_file()]
    problems = []
    if names_a != names_b:
        problems.append(
            f"file sets differ: only in reference {sorted(set(names_a) - set(names_b))}, only in other {sorted(set(names_b) - set(names_a))}"
        )
    for name in sorted(set(names_a) & set(names_b)):
        a, b = reference / name, other / name
        if name.endswith(".tsv"):
            same = _tsv_without_timing(a) == _tsv_without_timing(b)
        elif name.endswith(".pdf"):
            same = _PDF_DATE.sub(b"", a.read_bytes()) == _PDF_DATE.sub(b"", b.read_bytes())
        elif name.endswith(".pt"):
            same = a.read_bytes() == b.read_bytes()
            if not same:
                found = _same_objects(torch.load(a, weights_only=True), torch.load(b, weights_only=True), name)
                problems.extend(found or [f"{name}: same tensors, different bytes"])
                continue
        else:
            same = a.read_bytes() == b.read_bytes()
        if not same:
            problems.append(f"{name} differs")
    return problems
