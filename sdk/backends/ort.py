"""onnxruntime backend: CPU here; CUDA / TensorRT providers on a Jetson; any provider the build has.

The caller's providers are passed through as given. A provider that this onnxruntime build does not have
is refused with the list it does have, and a session that came up without the provider asked for (ORT
only logs a warning when, say, the CUDA libraries fail to load) is refused too: no silent CPU fallback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeseg.backends import BackendOptions, TensorInfo, require
from edgeseg.backends._common import check_array, check_names, TensorsAndMetadata
from edgeseg.errors import BackendError, ModelLoadError

# Short names a caller may use for `options.device` / `options.providers`.
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}

_DTYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int16)": np.int16,
    "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_,
}


def resolve_providers(options: BackendOptions, available: list[str]) -> list[str]:
    """The ordered provider list for `options`, each one checked against `available`."""
    asked = list(options.providers) if options.providers else [options.device or "cpu"]
    resolved = [PROVIDER_ALIASES.get(p.lower(), p) for p in asked]
    missing = [p for p in resolved if p not in available]
    if missing:
        raise BackendError(f"onnxruntime: provider(s) {missing} not available in this onnxruntime build; "
                           f"available: {available} (aliases: {sorted(PROVIDER_ALIASES)})")
    return resolved


def _tensor_info(arg) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape)  # symbolic dims come as str/None
    if arg.type not in _DTYPES:
        raise BackendError(f"onnxruntime: tensor {arg.name!r} has unsupported type {arg.type}")
    return TensorInfo(arg.name, shape, np.dtype(_DTYPES[arg.type]))


class OrtBackend(TensorsAndMetadata):
    name = "onnxruntime"

    def __init__(self, session, path: Path) -> None:
        self._session = session
        self._path = path
        self.device = session.get_providers()[0]
        self._inputs = tuple(_tensor_info(a) for a in session.get_inputs())
        self._outputs = tuple(_tensor_info(a) for a in session.get_outputs())
        self._output_names = [o.name for o in self._outputs]
        self._metadata = dict(session.get_modelmeta().custom_metadata_map)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._session is None:
            raise BackendError(f"onnxruntime: {self._path} is closed")
        check_names(self.name, inputs, self._inputs)
        feed = {i.name: check_array(self.name, inputs[i.name], i) for i in self._inputs}
        try:
            values = self._session.run(self._output_names, feed)
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise BackendError(f"onnxruntime: inference failed on {self._path.name}: {exc}") from exc
        return dict(zip(self._output_names, values))

    def close(self) -> None:
        self._session = None


def open(path: Path, options: BackendOptions) -> OrtBackend:  # noqa: A001 - the table's entry point name
    ort = require("onnxruntime", "onnx")
    providers = resolve_providers(options, ort.get_available_providers())
    so = ort.SessionOptions()
    if options.threads is not None:
        so.intra_op_num_threads = options.threads
    try:
        session = ort.InferenceSession(str(path), sess_options=so, providers=providers)
    except Exception as exc:
        raise ModelLoadError(f"{path}: onnxruntime could not load the model: {exc}") from exc
    if session.get_providers()[0] != providers[0]:
        raise BackendError(f"onnxruntime: asked for {providers[0]} but the session runs on "
                           f"{session.get_providers()}; the provider is installed but failed to start "
                           "(check its libraries, e.g. CUDA/cuDNN/TensorRT versions)")
    return OrtBackend(session, path)
