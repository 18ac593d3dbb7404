"""A dependency-free progress bar on stderr (the runtime install has no tqdm).

On a terminal the bar redraws in place at most 10 times a second. Written to a file or a CI log, where
carriage returns would pile up into one endless line, it prints a plain line at most every `log_every`
seconds, and always the last one."""

from __future__ import annotations

import sys
import time


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """`with Progress(total, "frames") as p: p.update()`."""

    def __init__(self, total: int | None, unit: str = "items", *, enabled: bool = True, stream=None,
                 log_every: float = 10.0) -> None:
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.terminal = _is_terminal(self.stream)
        self.every = 0.1 if self.terminal else log_every
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0 if self.terminal else self.start  # a terminal shows the bar at once
        self._drawn = 0  # `done` at the last draw

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last >= self.every or (self.terminal and self.done == self.total)):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        self._drawn = self.done
        rate = self.done / max(now - self.start, 1e-9)
        if self.total:
            count = f"{self.done}/{self.total} {self.unit} {rate:.1f}/s"
            if self.terminal:
                filled = int(30 * self.done / self.total)
                self.stream.write(f"\r[{'#' * filled}{'-' * (30 - filled)}] {count}")
            else:
                self.stream.write(f"{count} ({100 * self.done / self.total:.0f} %, {now - self.start:.0f} s)\n")
        else:
            count = f"{self.done} {self.unit} {rate:.1f}/s"
            self.stream.write(f"\r{count}" if self.terminal else f"{count} ({now - self.start:.0f} s)\n")
        self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        if not (self.enabled and self.done):
            return
        if self.terminal:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()
        elif self._drawn != self.done:
            self._draw(time.perf_counter())
