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
def step(name: str, partial: Path | None = None, *, quiet: bool = False) -> Iterator[None]:
    """Turn any exception inside a toolchain step into a `ConversionError` that names the step.

    quiet: hide the toolchain's own console output unless the step fails (then its tail is in the error).
    """
    log: list[str] = []
    try:
        if quiet:
            with captured_output() as log:
                yield
        else:
            yield
    except EdgeSegError:
        raise
    except Exception as exc:
        where = f"; partial files kept at {partial}" if partial is not None and partial.exists() else ""
        tail = "".join(log)[-2000:]
        raise ConversionError(f"{name} failed: {type(exc).__name__}: {exc}{where}"
                              + (f"\n--- toolchain output (tail) ---\n{tail}" if tail else "")) from exc


@contextlib.contextmanager
def captured_output() -> Iterator[list[str]]:
    """Silence a chatty toolchain's stdout/stderr (C++ logs included, at the file-descriptor level).

    The yielded list receives the captured text when the block ends, so a failure can show its tail.
    """
    import sys
    import tempfile

    sink: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile(mode="w+b") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield sink
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            log.seek(0)
            sink.append(log.read().decode("utf-8", "replace"))


def quiet_openvino_telemetry() -> None:
    """OpenVINO sends telemetry from import and convert_model (a forked process trying the network); it
    stays off when it believes it runs in CI. Set before openvino is first imported."""
    os.environ.setdefault("CI", "true")
