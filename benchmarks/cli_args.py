"""Argument types shared by the benchmark and scene commands."""

from __future__ import annotations

import argparse


def parse_size_wh(text: str) -> tuple[int, int]:
    """'1280x720' → (1280, 720)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}") from None
    if w < 8 or h < 8:
        raise argparse.ArgumentTypeError(f"expected sizes of at least 8 px, got {text!r}")
    return w, h


def parse_counts(text: str) -> list[int]:
    try:
        counts = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 0,1,10, got {text!r}") from None
    if not counts or any(n < 0 for n in counts):
        raise argparse.ArgumentTypeError(f"expected non-negative counts, got {text!r}")
    return counts
