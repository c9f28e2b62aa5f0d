"""Make the library (workflow_scripts/nusmooth) importable from the tests, as the stage scripts see it."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))
