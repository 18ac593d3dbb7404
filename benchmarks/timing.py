"""Measurement hygiene shared by the benchmarks: warm-up, perf_counter_ns, enough repeats."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


def time_calls(fn: Callable[[], object], *, warmup: int = 3, min_repeats: int = 20, min_time_s: float = 0.5,
               max_repeats: int = 10_000) -> np.ndarray:
    """Call `fn` `warmup` times, then until both `min_repeats` calls and `min_time_s` seconds are done.

    Returns the per-call times in milliseconds (float64).
    """
    for _ in range(warmup):
        fn()
    times: list[int] = []
    start = time.perf_counter_ns()
    while len(times) < max_repeats and (len(times) < min_repeats or time.perf_counter_ns() - start < min_time_s * 1e9):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return np.asarray(times, dtype=np.float64) / 1e6


def summarize(ms: np.ndarray) -> dict[str, float]:
    return {"median_ms": round(float(np.median(ms)), 4), "p90_ms": round(float(np.percentile(ms, 90)), 4),
            "repeats": int(len(ms))}
