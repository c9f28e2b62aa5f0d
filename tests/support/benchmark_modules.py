"""Load a benchmark script as a module: the soundness tests run small versions of the benchmarks'
harnesses (the benchmarks are scripts, not a package)."""

import importlib.util
import sys

from support import REPO

BENCHMARKS = REPO / "benchmarks"


def load_benchmark(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module while the file executes
    spec.loader.exec_module(module)
    return module
