"""Data-driven attribution benchmark, beside a baseline measured in the same run.

Fitting the first-order Markov chain (`MarkovModel.fit`, then the exact `removal_effects`) over
BENCH_PATHS paths (default 1,000,000), against one plain pass over the same paths counting
channel occurrences with a Counter (the floor: touch every touchpoint once, no pairs).
Target: fit <= 10 s. For reference, the credits of every converting path.

Paths are generated deterministically (random.Random(BENCH_SEED)): 8 channels of unequal
reach, 1-8 touchpoints each, about 5% converting, likelier when some channels are in the path,
so the removal effects differ.

Run from the repository root:
    .venv/bin/python -m benchmarks.bench_attribution  (or .venv/bin/python benchmarks/bench_attribution.py)
Environment: BENCH_PATHS, BENCH_ROUNDS (default 3), BENCH_SEED (default 2024).
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import auctera  # noqa: F401
except ModuleNotFoundError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from auctera.domain.attribution import MarkovModel

# channel: (relative reach, added conversion probability when in the path)
CHANNELS = {
    "DSP": (8, 0.010),
    "Retargeting": (5, 0.030),
    "Affiliate": (4, 0.025),
    "SmartLink": (3, 0.015),
    "Retail media": (3, 0.012),
    "Native": (2, 0.004),
    "Email": (2, 0.020),
    "Social": (4, 0.002),
}
BASE_CONVERSION = 0.004

Path_ = tuple[list[str], bool]


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def generate(count: int, seed: int) -> list[Path_]:
    rng = random.Random(seed)
    names = list(CHANNELS)
    reach = [CHANNELS[c][0] for c in names]
    paths = []
    for _ in range(count):
        channels = rng.choices(names, weights=reach, k=rng.randint(1, 8))
        chance = BASE_CONVERSION + sum(CHANNELS[c][1] for c in set(channels))
        paths.append((channels, rng.random() < chance))
    return paths


def count_channels(paths: list[Path_]) -> Counter[str]:
    """The baseline: one pass over every touchpoint."""
    seen: Counter[str] = Counter()
    for channels, _ in paths:
        seen.update(channels)
    return seen


def fit(paths: list[Path_]) -> MarkovModel:
    model = MarkovModel.fit(paths)
    model.removal_effects()  # the exact solves, once per channel; kept by the model
    return model


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    count = env_int("BENCH_PATHS", 1_000_000)
    rounds = env_int("BENCH_ROUNDS", 3)
    seed = env_int("BENCH_SEED", 2024)
    took, paths = timed(lambda: generate(count, seed))
    converting = [channels for channels, converted in paths if converted]
    touchpoints = sum(len(channels) for channels, _ in paths)
    print(
        f"data-driven attribution over {count:,} paths, {touchpoints:,} touchpoints, "
        f"{len(CHANNELS)} channels, {len(converting) / count:.1%} converting, {rounds} rounds"
    )
    print(f"    (generated in {took:.1f} s, seed {seed})")
    gc.collect()
    gc.freeze()  # the generated paths are the benchmark's own: no collector passes over them

    baseline: list[float] = []
    fits: list[float] = []
    models: list[MarkovModel] = []
    runs: list[tuple[list[float], Callable[[], Any]]] = [
        (baseline, lambda: count_channels(paths)),
        (fits, lambda: models.append(fit(paths))),
    ]
    for round_ in range(rounds):  # interleaved, alternating order: load drift hits both alike
        for times, run in runs if round_ % 2 == 0 else runs[::-1]:
            times.append(timed(run)[0])
    model = models[-1]
    assert sorted(model.channels) == sorted(CHANNELS) and sum(count_channels(paths).values()) == touchpoints
    assert all(m.removal_effects() == model.removal_effects() for m in models)
    del models[:-1]

    solve, _ = timed(lambda: MarkovModel(model.transition_counts).removal_effects())
    attributing, shares = timed(lambda: [model.credits(channels) for channels in converting])
    assert all(sum(s) == 1 for s in shares)

    label = 50
    print(f"    {'':<{label}} {'median':>8}   {'best':>8}")
    print(f"    {'baseline, Counter of channels in one pass':<{label}} {row(baseline)}")
    print(
        f"    {f'data-driven fit over {count:,} paths':<{label}} {row(fits)}"
        f"   (fit/baseline {statistics.median(fits) / statistics.median(baseline):.2f}, goal <= 10 s)"
    )
    print(f"    {'  of which the exact solves (P, P without each)':<{label}} {solve * 1000:8.1f} ms")
    print(f"    for reference, credits of the {len(converting):,} converting paths: {attributing:.2f} s")
    effects = model.removal_effects()
    total = sum(effects.values())
    print(f"    P(conversion) = {float(model.conversion_probability()):.4f}; removal effect (share):")
    for channel, effect in sorted(effects.items(), key=lambda item: -item[1]):
        print(f"      {channel:<14} {float(effect):.4f} ({float(effect / total):.1%})")


def row(times: list[float]) -> str:
    return f"{statistics.median(times):8.2f} s {min(times):8.2f} s"


if __name__ == "__main__":
    main()
