"""Checks every backend applies before running: names, shapes and dtypes, stated as expected vs got.

Runtimes report a wrong input in their own words (or not at all: some read past a short buffer), so the
backends check first and fail with one message format.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from edgeseg.backends import TensorInfo
from edgeseg.errors import BackendError


def describe(info: TensorInfo) -> str:
    shape = "×".join("?" if d is None else str(d) for d in info.shape)
    return f"{info.name!r} {shape} {np.dtype(info.dtype).name}"


def check_names(backend: str, inputs: Mapping[str, np.ndarray], infos: tuple[TensorInfo, ...]) -> None:
    if not isinstance(inputs, Mapping):
        raise BackendError(f"{backend}: expected a dict of input name → array, got {type(inputs).__name__}")
    expected = [i.name for i in infos]
    missing = [n for n in expected if n not in inputs]
    unknown = [n for n in inputs if n not in expected]
    if missing or unknown:
        raise BackendError(f"{backend}: expected inputs {expected}, got {list(inputs)}"
                           + (f" (missing {missing})" if missing else "")
                           + (f" (unknown {unknown})" if unknown else ""))


def check_array(backend: str, array: object, info: TensorInfo, *, dtype: np.dtype | None = None) -> np.ndarray:
    """`array` if its shape fits `info.shape` (None matches any size) and its dtype is `dtype` (default
    `info.dtype`); otherwise a BackendError saying what was expected and what arrived."""
    if not isinstance(array, np.ndarray):
        raise BackendError(f"{backend}: input {info.name!r} expected a numpy array, got {type(array).__name__}")
    want = np.dtype(info.dtype if dtype is None else dtype)
    shape_ok = array.ndim == len(info.shape) and all(
        d is None or d == s for d, s in zip(info.shape, array.shape))
    if not shape_ok or array.dtype != want:
        raise BackendError(f"{backend}: input expected {describe(TensorInfo(info.name, info.shape, want))}, "
                           f"got shape {tuple(array.shape)} {array.dtype.name}")
    return array


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """float → integer tensor: round(x / scale) + zero_point, clipped to the dtype's range."""
    info = np.iinfo(dtype)
    q = np.rint(x / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """integer tensor → float32: (q - zero_point) * scale."""
    return (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


class TensorsAndMetadata:
    """The read-only part of the `Backend` protocol, shared by every backend: subclasses set `_inputs`,
    `_outputs` and `_metadata` in their constructor."""

    _inputs: tuple[TensorInfo, ...]
    _outputs: tuple[TensorInfo, ...]
    _metadata: dict[str, str]

    @property
    def inputs(self) -> tuple[TensorInfo, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorInfo, ...]:
        return self._outputs

    def metadata(self) -> dict[str, str]:
        return dict(self._metadata)
