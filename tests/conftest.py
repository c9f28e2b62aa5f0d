"""Shared test set-up: the library is importable as ``nusmooth`` from workflow_scripts/."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))
