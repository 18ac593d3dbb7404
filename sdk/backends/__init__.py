"""Backends: one small protocol, one module per runtime, chosen from a table of lazy imports.

A backend takes named input arrays and returns named output arrays. It never decodes and never guesses:
the device or provider the caller asks for is used or refused with a list of what is available.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from edgeseg.errors import BackendError, MissingExtraError, ModelLoadError


@dataclass(frozen=True)
class TensorInfo:
    """name; shape with None for dynamic axes; dtype of the tensor in the graph; quant (scale, zero_point)
    for quantized tensors, else None."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype
    quant: tuple[float, int] | None = None


class PerformanceHint(str, Enum):
    LATENCY = "LATENCY"
    THROUGHPUT = "THROUGHPUT"


@dataclass(frozen=True, kw_only=True)
class BackendOptions:
    """What the caller asks of a runtime.

    device: onnxruntime: a provider name or alias ("cpu", "cuda", "tensorrt", "CUDAExecutionProvider", ...);
            OpenVINO: a device string ("CPU", "GPU", "NPU", "AUTO"); TFLite: "cpu" (default).
    threads: intra-op threads (None: the runtime's default).
    providers: onnxruntime only, the full ordered provider list (overrides `device`).
    performance_hint: OpenVINO only.
    xnnpack: TFLite only, use the XNNPACK CPU delegate (default on).
    delegate: TFLite only, path to an external delegate library.
    """

    device: str | None = None
    threads: int | None = None
    providers: tuple[str, ...] | None = None
    performance_hint: PerformanceHint = PerformanceHint.LATENCY
    xnnpack: bool = True
    delegate: str | None = None


@runtime_checkable
class Backend(Protocol):
    name: str  # "onnxruntime", "openvino", "tflite"
    device: str  # what it actually runs on, e.g. "CPUExecutionProvider", "CPU"

    @property
    def inputs(self) -> tuple[TensorInfo, ...]: ...

    @property
    def outputs(self) -> tuple[TensorInfo, ...]: ...

    def metadata(self) -> dict[str, str]:
        """String metadata stored in the model file (ONNX metadata_props, OpenVINO rt_info, TFLite metadata)."""
        ...

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one inference. Float inputs for quantized tensors are quantized; quantized outputs are
        returned dequantized as float32."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BackendEntry:
    name: str
    module: str  # lazy import path; the module defines `open(path, options) -> Backend`
    package: str  # what must be importable
    extra: str  # the pip extra that installs it
    suffixes: tuple[str, ...]


BACKENDS: dict[str, BackendEntry] = {
    "onnxruntime": BackendEntry("onnxruntime", "edgeseg.backends.ort", "onnxruntime", "onnx", (".onnx",)),
    "openvino": BackendEntry("openvino", "edgeseg.backends.ov", "openvino", "openvino", (".xml", ".onnx")),
    "tflite": BackendEntry("tflite", "edgeseg.backends.tflite", "ai_edge_litert", "tflite", (".tflite",)),
}

# The backend a file suffix gets when the caller names none.
SUFFIX_DEFAULT: dict[str, str] = {".onnx": "onnxruntime", ".xml": "openvino", ".tflite": "tflite"}


def backend_for(path: str | Path, backend: str | None = None) -> BackendEntry:
    """The table entry for `path`, honouring an explicit `backend` name."""
    suffix = Path(path).suffix.lower()
    if backend is None:
        if suffix not in SUFFIX_DEFAULT:
            raise ModelLoadError(f"{path}: unknown model format {suffix!r}; expected one of "
                                 f"{sorted(SUFFIX_DEFAULT)}")
        backend = SUFFIX_DEFAULT[suffix]
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; expected one of {sorted(BACKENDS)}")
    entry = BACKENDS[backend]
    if suffix not in entry.suffixes:
        raise BackendError(f"backend {backend!r} cannot read {suffix!r} files; it reads {list(entry.suffixes)}")
    return entry


def open_backend(path: str | Path, backend: str | None = None, options: BackendOptions | None = None) -> Backend:
    """Open `path` on the backend named (or the suffix's default) with `options`."""
    path = Path(path)
    entry = backend_for(path, backend)
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    module = importlib.import_module(entry.module)
    return module.open(path, options or BackendOptions())


def require(package: str, extra: str):
    """Import a runtime package or raise `MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise MissingExtraError(package, extra, detail=str(exc)) from None
