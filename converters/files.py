"""Writing exported files safely: work under a temporary name, move into place only when complete.

A failed conversion keeps its partial files (named `*.partial*`) for inspection and never leaves anything
half-written under the final name.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from edgeseg.errors import EdgeSegError


class ConversionError(EdgeSegError):
    """A toolchain failed; the message names the step and where the partial files are."""


def partial_path(final: Path) -> Path:
    return final.with_name(f"{final.stem}.partial{final.suffix}")


def companions(path: Path) -> list[Path]:
    """The files that make up one model: an OpenVINO .xml has its .bin."""
    return [path, path.with_suffix(".bin")] if path.suffix == ".xml" else [path]


def publish(partial: Path, final: Path) -> Path:
    """Move a finished model (and companions) from its partial name to its final name, atomically per file."""
    for src, dst in zip(companions(partial), companions(final)):
        os.replace(src, dst)
    return final  # OpenVINO finds the weights by stem: the .bin needs no reference updated


@contextlib.contextmanager
def step(name: str, partial: Path | None = None) -> Iterator[None]:
    """Turn any exception inside a toolchain step into a `ConversionError` that names the step."""
    try:
        yield
    except EdgeSegError:
        raise
    except Exception as exc:
        where = f"; partial files kept at {partial}" if partial is not None and partial.exists() else ""
        raise ConversionError(f"{name} failed: {type(exc).__name__}: {exc}{where}") from exc


def quiet_openvino_telemetry() -> None:
    """OpenVINO sends telemetry from import and convert_model (a forked process trying the network); it
    stays off when it believes it runs in CI. Set before openvino is first imported."""
    os.environ.setdefault("CI", "true")
