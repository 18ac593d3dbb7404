"""OpenVINO backend: reads IR (.xml + .bin) and .onnx, runs on the device the caller names (CPU, GPU, NPU,
AUTO, ...), checked against `Core().available_devices`.

The model is compiled once and one infer request is reused, so a frame costs one `infer` call. Metadata
comes from rt_info: the edgeseg spec at the top level (written by `spec_io.write_spec`), and, for a model
read from ONNX, the ONNX metadata_props that OpenVINO files under rt_info["framework"].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeseg.backends import BackendOptions, TensorInfo, require
from edgeseg.backends._common import check_array, check_names, TensorsAndMetadata
from edgeseg.errors import BackendError, ModelLoadError

_VIRTUAL_DEVICES = {"AUTO", "HETERO", "MULTI", "BATCH"}


def check_device(device: str, available: list[str]) -> str:
    """`device` upper-cased if every physical device it names is available ("GPU" matches "GPU.0")."""
    device = device.upper()
    head, _, rest = device.partition(":")
    if head in _VIRTUAL_DEVICES:
        wanted = [d for d in rest.split(",") if d]
    else:
        wanted = [device]
    missing = [d for d in wanted if not any(a == d or a.split(".")[0] == d for a in available)]
    if missing:
        raise BackendError(f"openvino: device {device!r} not available (missing {missing}); "
                           f"available: {available}")
    return device


def _tensor_info(port, kind: str, model_port=None) -> TensorInfo:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    # Names come from the model as read: compiling may merge an internal tensor's name into an output's
    # (seen after NNCF INT8: {'scores', '/inner/Transpose_output_0'}), and get_any_name could pick either.
    names = (model_port or port).get_names()
    # A model converted straight from PyTorch may have unnamed outputs; name them by position.
    name = min(names, key=lambda n: (n.startswith("/"), n)) if names else f"{kind}{port.get_index()}"
    return TensorInfo(name, shape, np.dtype(port.get_element_type().to_dtype()))


def _read_metadata(model) -> dict[str, str]:
    """Top-level string entries of rt_info, plus the ONNX metadata kept under "framework" (top level wins)."""
    rt = model.get_rt_info()
    meta: dict[str, str] = {}
    framework: dict[str, str] = {}
    for key in rt.keys():
        value = rt[key]
        if isinstance(value, dict):
            if key == "framework":
                framework = {k: v.astype(str) for k, v in value.items() if not isinstance(v, dict)}
            continue
        try:
            meta[key] = value.astype(str)
        except Exception:  # a non-string entry (OpenVINO's own bookkeeping): not metadata for us
            continue
    return {**framework, **meta}


class OpenVinoBackend(TensorsAndMetadata):
    name = "openvino"

    def __init__(self, compiled, device: str, metadata: dict[str, str], path: Path, model=None) -> None:
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._path = path
        self.device = device
        self._metadata = metadata
        m_in = model.inputs if model is not None else [None] * len(compiled.inputs)
        m_out = model.outputs if model is not None else [None] * len(compiled.outputs)
        self._inputs = tuple(_tensor_info(p, "input", m) for p, m in zip(compiled.inputs, m_in))
        self._outputs = tuple(_tensor_info(p, "output", m) for p, m in zip(compiled.outputs, m_out))
        self._out_ports = list(compiled.outputs)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._request is None:
            raise BackendError(f"openvino: {self._path} is closed")
        check_names(self.name, inputs, self._inputs)
        feed = {k: check_array(self.name, inputs[i.name], i) for k, i in enumerate(self._inputs)}
        try:
            # share_inputs avoids a copy of the frame; outputs are copied (the default) because the request
            # is reused and would overwrite arrays handed out on the previous frame.
            result = self._request.infer(feed, share_inputs=True)
        except Exception as exc:
            raise BackendError(f"openvino: inference failed on {self._path.name}: {exc}") from exc
        return {info.name: result[port] for info, port in zip(self._outputs, self._out_ports)}

    def close(self) -> None:
        self._request = None
        self._compiled = None


def open(path: Path, options: BackendOptions) -> OpenVinoBackend:  # noqa: A001 - the table's entry point name
    ov = require("openvino", "openvino")
    core = ov.Core()
    device = check_device(options.device or "CPU", core.available_devices)
    try:
        model = core.read_model(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{path}: OpenVINO could not read the model: {exc}") from exc
    # OpenVINO's CPU plugin runs float models in bf16 on CPUs that have it (measured here: 7e-4 max error on
    # the tiny semantic logits vs 3e-8 in f32), so results would depend on the host CPU. Float models run in
    # f32 on the CPU, also when reached through AUTO/HETERO; INT8 layers are unaffected.
    if "CPU" in core.available_devices:
        core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    config: dict[str, str] = {"PERFORMANCE_HINT": options.performance_hint.value}
    if options.threads is not None:
        config["INFERENCE_NUM_THREADS"] = str(options.threads)
    try:
        compiled = core.compile_model(model, device, config)
    except Exception as exc:
        raise BackendError(f"openvino: could not compile {path.name} for {device} with {config}: {exc}") from exc
    return OpenVinoBackend(compiled, device, _read_metadata(model), path, model)
