"""A dependency-free progress bar on stderr (the runtime install has no tqdm)."""

from __future__ import annotations

import sys
import time


class Progress:
    """`with Progress(total, "frames") as p: p.update()`; prints at most ~10 times a second."""

    def __init__(self, total: int | None, unit: str = "items", *, enabled: bool = True, stream=None) -> None:
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.1 or self.done == self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.start, 1e-9)
        if self.total:
            filled = int(30 * self.done / self.total)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"\r[{bar}] {self.done}/{self.total} {self.unit} {rate:.1f}/s"
        else:
            text = f"\r{self.done} {self.unit} {rate:.1f}/s"
        self.stream.write(text)
        self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.done:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()
