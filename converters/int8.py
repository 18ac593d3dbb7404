"""Post-training INT8 on every format, calibrated on the user's images through the runtime's own preprocessing.

- onnxruntime: static QDQ, per-channel int8 weights, uint8 activations (int8 activations ran 2× slower
  on this AVX2 CPU, TOOLCHAIN.md); the heads' last layers (`head_nodes`) stay in float by default.
- OpenVINO: NNCF post-training quantization of the FP32 IR, the same head layers left in float.
- TFLite: ai-edge-quantizer `static_wi8_ai8` on the float .tflite (int8 input and output tensors; the
  runtime quantizes and dequantizes with their scales).
Calibration data is any iterable of frames (H×W×3 uint8 BGR) or a folder of images.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from edgeseg.backends import require
from edgeseg.cli.progress import Progress
from edgeseg.convert.files import partial_path, publish, quiet_openvino_telemetry, step
from edgeseg.errors import InputError
from edgeseg.media import IMAGE_SUFFIXES, read_image
from edgeseg.preprocess import preprocess
from edgeseg.spec import InputSpec, ModelSpec, Precision, Quantization
from edgeseg.spec_io import write_spec

# Fewer calibration images than this draws a warning: activation ranges from a handful of frames are
# noisy, and the parity report is the place to see what that cost.
MIN_CALIBRATION = 32


def calibration_frames(source: str | Path | Iterable[np.ndarray], limit: int | None = None, *,
                       purpose: str = "calibration", warn: bool = True) -> list[np.ndarray]:
    """Frames from a folder of images or an iterable of frames; refuses an empty or unreadable set.

    A data set folder with an `images/` subfolder (what `edgeseg scenes` writes, and COCO-style layouts) gives
    the images there only: its `labels/` maps are images too, but not frames."""
    if isinstance(source, (str, Path)):
        folder = Path(source)
        if not folder.is_dir():
            raise InputError(f"{purpose}: {folder} is not a folder")
        if (folder / "images").is_dir():
            folder = folder / "images"
        files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{purpose}: {folder} holds no images ({sorted(IMAGE_SUFFIXES)})")
        frames = [read_image(f) for f in files[:limit]]
    else:
        frames = list(source)[:limit]
    if not frames:
        raise InputError(f"{purpose}: no frames given")
    if warn and len(frames) < MIN_CALIBRATION:
        warnings.warn(f"calibration: only {len(frames)} images (at least {MIN_CALIBRATION} recommended); "
                      "INT8 accuracy may suffer — check the parity report", stacklevel=2)
    return frames


def calibration_tensors(frames: list[np.ndarray], input_spec: InputSpec) -> list[np.ndarray]:
    """Each frame through the exact runtime preprocessing: the tensors the model will see."""
    return [preprocess(f, input_spec)[0] for f in frames]


def _int8_spec(spec: ModelSpec, method: str, n: int, float_nodes: tuple[str, ...] = ()) -> ModelSpec:
    return spec.replace(quantization=Quantization(precision=Precision.INT8, method=method, calibration_images=n,
                                                  float_nodes=float_nodes))


def head_nodes(onnx_path: Path, convs: int = 1, max_depth: int = 12) -> tuple[str, ...]:
    """ONNX nodes between each graph output and the `convs`-th convolution behind it, those included.

    These are the heads' last layers: the box/score/coefficient/prototype convolutions and the reshapes,
    activations and concatenations that lay out their outputs. INT8 hurts them most (one scale for pixel
    boxes, 0..1 scores and mask coefficients), so they may stay in float (TOOLCHAIN.md).
    """
    onnx = require("onnx", "convert")
    graph = onnx.load(str(onnx_path)).graph
    producer = {o: n for n in graph.node for o in n.output}
    keep: dict[str, None] = {}
    for out in graph.output:
        frontier = [(producer[out.name], 0, 0)] if out.name in producer else []
        while frontier:
            node, depth, seen = frontier.pop()
            if node.name in keep or depth > max_depth:
                continue
            keep[node.name] = None
            if node.op_type in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
                seen += 1
                if seen >= convs:
                    continue  # deep enough into the head: stop here
            frontier.extend((producer[i], depth + 1, seen) for i in node.input if i in producer)
    return tuple(keep)


def quantize_onnx(fp32_path: Path, spec: ModelSpec, tensors: list[np.ndarray], path: Path, *,
                  keep_heads_float: bool = True, progress: bool = True) -> ModelSpec:
    """Static QDQ INT8 ONNX from the FP32 ONNX file."""
    require("onnxruntime", "onnx")
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_static)

    float_nodes = head_nodes(fp32_path) if keep_heads_float else ()
    bar = Progress(len(tensors), "calibration frames (onnxruntime)", enabled=progress)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[np.ndarray] = iter(tensors)

        def get_next(self):
            x = next(self._it, None)
            if x is None:
                return None
            bar.update()
            return {spec.input.name: x}

    part = partial_path(path)
    with bar, step("onnxruntime static quantization (quantize_static)", part), _quiet_ort_logging():
        quantize_static(str(fp32_path), str(part), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(float_nodes))
    out = _int8_spec(spec, "onnxruntime static QDQ (u8 activations, s8 per-channel weights)", len(tensors),
                     float_nodes)
    write_spec(part, out)
    publish(part, path)
    return out


def _quiet_ort_logging():
    """onnxruntime.quantization logs a pre-processing hint through the root logger on every call."""
    import contextlib
    import logging

    @contextlib.contextmanager
    def cm():
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            yield
        finally:
            root.setLevel(level)

    return cm()


def quantize_openvino(fp32_xml: Path, spec: ModelSpec, tensors: list[np.ndarray], path: Path, *,
                      float_nodes: tuple[str, ...] = (), progress: bool = True) -> ModelSpec:
    """NNCF post-training INT8 of the FP32 IR; `float_nodes` (ONNX node names, which the IR's operations
    keep as name prefixes) stay in float."""
    quiet_openvino_telemetry()
    ov = require("openvino", "openvino")
    nncf = require("nncf", "convert")
    part = partial_path(path)
    bar = Progress(len(tensors), "calibration frames (NNCF)", enabled=progress)

    def feed(x):
        bar.update()
        return x

    import logging

    logging.getLogger("nncf").setLevel(logging.WARNING)  # it logs every node it leaves in float at INFO
    with bar, step("OpenVINO NNCF quantization (nncf.quantize)", part):
        model = ov.Core().read_model(str(fp32_xml))
        ignored = nncf.IgnoredScope(patterns=[re.escape(n) + "(/.*)?$" for n in float_nodes], validate=False)
        quantized = nncf.quantize(model, nncf.Dataset(tensors, feed), subset_size=len(tensors),
                                  preset=nncf.QuantizationPreset.MIXED, ignored_scope=ignored,
                                  # full bias correction: parts-seg's INT8 mIoU drop 1.03 → 0.90 points
                                  fast_bias_correction=False)
        ov.save_model(quantized, str(part), compress_to_fp16=False)
    out = _int8_spec(spec, "NNCF post-training quantization (mixed preset, bias correction)", len(tensors),
                     float_nodes)
    write_spec(part, out)
    publish(part, path)
    return out


# TFLite builtin operator codes of the layers a head ends in (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED).
_TFLITE_LAYERS = {3, 4, 9}


def tflite_head_tensors(path: Path, max_depth: int = 12) -> tuple[str, ...]:
    """Output tensor names of the ops between each model output and the convolution behind it (included):
    the TFLite counterpart of `head_nodes`."""
    require("ai_edge_litert", "tflite")
    from ai_edge_litert import schema_py_generated as fb

    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(path.read_bytes(), 0))
    sg = model.subgraphs[0]
    producer = {t: op for op in sg.operators for t in op.outputs}
    keep: dict[str, None] = {}
    frontier = [(producer[t], 0) for t in sg.outputs if t in producer]
    while frontier:
        op, depth = frontier.pop()
        name = sg.tensors[op.outputs[0]].name.decode()
        if name in keep or depth > max_depth:
            continue
        keep[name] = None
        if model.operatorCodes[op.opcodeIndex].builtinCode in _TFLITE_LAYERS:
            continue
        frontier.extend((producer[t], depth + 1) for t in op.inputs if t in producer)
    return tuple(keep)


def quantize_tflite(fp32_tflite: Path, spec: ModelSpec, tensors: list[np.ndarray], path: Path, *,
                    keep_heads_float: bool = True) -> ModelSpec:
    """INT8 .tflite (int8 weights and activations, int8 input) with ai-edge-quantizer; the heads' last
    layers stay in float unless `keep_heads_float` is off."""
    require("ai_edge_quantizer", "convert")
    from ai_edge_quantizer import quantizer, recipe

    part = partial_path(path)
    float_tensors = tflite_head_tensors(fp32_tflite) if keep_heads_float else ()
    rules = recipe.static_wi8_ai8()
    if float_tensors:
        # ai-edge-quantizer matches an op by its "scope": its output tensor names, each followed by ";".
        rules = rules + [{"regex": "^(" + "|".join(re.escape(t) for t in float_tensors) + ");", "operation": "*",
                          "algorithm_key": "no_quantize"}]
    with step("TFLite INT8 (ai-edge-quantizer static_wi8_ai8)", part, quiet=True):
        q = quantizer.Quantizer(str(fp32_tflite), rules)
        calib = {"serving_default": [{spec.input.name: x} for x in tensors]}
        result = q.quantize(q.calibrate(calib), enable_progress_report=False)
        part.write_bytes(bytes(result.quantized_model))
    out = _int8_spec(spec, "ai-edge-quantizer static_wi8_ai8", len(tensors), float_tensors)
    write_spec(part, out)
    publish(part, path)
    return out
