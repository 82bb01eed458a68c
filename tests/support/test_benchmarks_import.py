"""`make bench` runs modules no test imports: a name they take from src/ that moved would only
show when someone benchmarks. Importing them all here finds it at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_module_imports() -> None:
    names = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
    assert names, "no benchmark modules found"
    probe = "import importlib, sys; [importlib.import_module('benchmarks.' + n) for n in sys.argv[1:]]"
    done = subprocess.run([sys.executable, "-c", probe, *names], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
