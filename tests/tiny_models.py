"""Tiny real models for tests: PyTorch modules, their exports (ONNX, OpenVINO IR, TFLite FP32/INT8) and specs.

The weights are seeded and meaningless; what matters is that every format runs the same graph, so
formats can be compared with each other and with PyTorch, and that the instance head yields a few
confident detections (fixed anchors get a large score bias) so decoders see non-trivial output.

conftest.py builds every file once per test session from these factories; other tests can call
`torch_reference(kind)` to get the module and its example input and compare against PyTorch.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from torch import nn

from edgeseg.spec import (
    DecoderKind,
    InputSpec,
    Layout,
    ModelSpec,
    OutputRole,
    OutputSpec,
    Precision,
    Quantization,
    Task,
)
from edgeseg.spec_io import write_spec

SEMANTIC_HW = (64, 96)
SEMANTIC_CLASSES = ("background", "part", "defect")
INSTANCE_HW = (64, 64)
INSTANCE_CLASSES = ("bolt", "nut")
NM = 4  # mask coefficients per anchor
STRIDE = 8  # one detection scale: (64 / 8)² = 64 anchors
NUM_ANCHORS = (INSTANCE_HW[0] // STRIDE) * (INSTANCE_HW[1] // STRIDE)
# (anchor index, class id) pairs whose score is pushed to ~1; the rest sit near 0. Anchors are far apart
# so NMS keeps all of them: 3 instances of class 0 and 2 of class 1.
CONFIDENT_ANCHORS = ((9, 0), (14, 1), (27, 0), (49, 1), (54, 0))
SEED = 0


def _conv(cin: int, cout: int, k: int = 3, s: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, s, k // 2)


class TinySemantic(nn.Module):
    """(1, 3, 64, 96) float32 NCHW → logits (1, C, 16, 24): a stride-4 head the decoder must upsample."""

    def __init__(self, num_classes: int = len(SEMANTIC_CLASSES)) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(3, 8, s=2), nn.ReLU(), _conv(8, 16, s=2), nn.ReLU(),
                                  _conv(16, num_classes, k=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class TinyYoloSeg(nn.Module):
    """(1, 3, 64, 64) → YOLO-seg outputs, in the Ultralytics concatenated layout or split.

    concat: output0 (1, 4+nc+nm, A) = cx, cy, w, h (input pixels), sigmoid class scores, raw
            coefficients; protos (1, nm, 16, 16).
    split:  boxes (1, A, 4) cxcywh, scores (1, A, nc), coefficients (1, A, nm), protos (1, nm, 16, 16).
    """

    def __init__(self, nc: int = len(INSTANCE_CLASSES), nm: int = NM, *, split: bool = False) -> None:
        super().__init__()
        self.nc, self.nm, self.split = nc, nm, split
        self.stem = nn.Sequential(_conv(3, 8, s=2), nn.ReLU(), _conv(8, 16, s=2), nn.ReLU())  # 16×16
        self.proto = _conv(16, nm, k=1)
        self.down = nn.Sequential(_conv(16, 16, s=2), nn.ReLU())  # 8×8 at stride 8
        self.head = _conv(16, 4 + nc + nm, k=1)
        gh, gw = INSTANCE_HW[0] // STRIDE, INSTANCE_HW[1] // STRIDE
        gy, gx = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
        self.register_buffer("grid", torch.stack([gx, gy]).reshape(1, 2, -1).float() + 0.5)
        bias = torch.full((1, nc, gh * gw), -8.0)
        for anchor, cls in CONFIDENT_ANCHORS:
            bias[0, cls, anchor] = 8.0
        self.register_buffer("score_bias", bias)
        # Prototype 0 is a ±3 checkerboard of 4×4 cells (16 input px) and every anchor leans on it, so each
        # mask covers part of its box rather than all of it or none.
        ph, pw = INSTANCE_HW[0] // 4, INSTANCE_HW[1] // 4
        yy, xx = torch.meshgrid(torch.arange(ph), torch.arange(pw), indexing="ij")
        proto_bias = torch.zeros(1, nm, ph, pw)
        proto_bias[0, 0] = torch.where((yy // 4 + xx // 4) % 2 == 0, 3.0, -3.0)
        self.register_buffer("proto_bias", proto_bias)
        self.register_buffer("coeff_bias", torch.zeros(1, nm, 1).index_fill_(1, torch.tensor([0]), 1.0))

    def forward(self, x: torch.Tensor):
        f = self.stem(x)
        protos = self.proto(f) + self.proto_bias
        raw = self.head(self.down(f)).flatten(2)  # (1, 4+nc+nm, A)
        xy = (self.grid + torch.sigmoid(raw[:, 0:2]) - 0.5) * STRIDE
        wh = STRIDE * (1.0 + 3.0 * torch.sigmoid(raw[:, 2:4]))  # 8..32 px
        scores = torch.sigmoid(raw[:, 4:4 + self.nc] + self.score_bias)
        coeffs = raw[:, 4 + self.nc:] + self.coeff_bias  # +1 on prototype 0
        if not self.split:
            return torch.cat([xy, wh, scores, coeffs], 1), protos
        boxes = torch.cat([xy, wh], 1)
        return boxes.transpose(1, 2), scores.transpose(1, 2), coeffs.transpose(1, 2), protos


@dataclass(frozen=True)
class Reference:
    """A tiny model with what its exports are checked against."""

    kind: str  # "semantic", "instance-concat", "instance-split"
    module: nn.Module
    example: np.ndarray  # (1, 3, H, W) float32 in 0..1
    input_name: str
    output_names: tuple[str, ...]  # the names in every format (TFLite signature too), in return order
    roles: tuple[OutputRole, ...]


KINDS = ("semantic", "instance-concat", "instance-split")


def torch_reference(kind: str) -> Reference:
    """The seeded PyTorch module for `kind` and a seeded example input (what every export must match)."""
    torch.manual_seed(SEED)
    if kind == "semantic":
        module, hw = TinySemantic(), SEMANTIC_HW
        names, roles = ("logits",), (OutputRole.LOGITS,)
    elif kind == "instance-concat":
        module, hw = TinyYoloSeg(split=False), INSTANCE_HW
        names, roles = ("output0", "protos"), (OutputRole.PREDICTIONS, OutputRole.PROTOS)
    elif kind == "instance-split":
        module, hw = TinyYoloSeg(split=True), INSTANCE_HW
        names = ("boxes", "scores", "coefficients", "protos")
        roles = (OutputRole.BOXES, OutputRole.SCORES, OutputRole.COEFFICIENTS, OutputRole.PROTOS)
    else:
        raise ValueError(f"unknown tiny model kind {kind!r}; expected one of {KINDS}")
    example = np.random.default_rng(SEED).random((1, 3, *hw), dtype=np.float32)
    return Reference(kind, module.eval(), example, "images", names, roles)


def run_torch(ref: Reference, x: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """PyTorch outputs keyed by the ONNX output names."""
    with torch.no_grad():
        out = ref.module(torch.from_numpy(ref.example if x is None else x))
    out = out if isinstance(out, tuple) else (out,)
    return {name: t.numpy() for name, t in zip(ref.output_names, out)}


def make_spec(ref: Reference, *, precision: Precision = Precision.FP32, method: str = "") -> ModelSpec:
    """The spec of `ref`'s model (task, decoder, letterbox input with default normalization, outputs)."""
    names = ref.output_names
    hw = tuple(ref.example.shape[2:])
    semantic = ref.kind == "semantic"
    return ModelSpec(
        task=Task.SEMANTIC if semantic else Task.INSTANCE,
        decoder=DecoderKind.MASK_LOGITS if semantic else DecoderKind.YOLO_SEG,
        input=InputSpec(name=ref.input_name, size_hw=hw, layout=Layout.NCHW),  # type: ignore[arg-type]
        outputs=tuple(OutputSpec(name=n, role=r) for n, r in zip(names, ref.roles)),
        class_names=SEMANTIC_CLASSES if semantic else INSTANCE_CLASSES,
        num_mask_coeffs=0 if semantic else NM,
        quantization=Quantization(precision=precision, method=method),
        name=f"tiny-{ref.kind}",
    )


def export_onnx(ref: Reference, path: Path) -> Path:
    """One-file ONNX (opset 17, TorchScript exporter) with the spec in metadata_props."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated, still fine
        torch.onnx.export(ref.module, (torch.from_numpy(ref.example),), str(path), dynamo=False, opset_version=17,
                          input_names=[ref.input_name], output_names=list(ref.output_names))
    write_spec(path, make_spec(ref))
    return path


def export_openvino(ref: Reference, onnx_path: Path, path: Path) -> Path:
    """OpenVINO IR converted from the ONNX file, FP32 weights, spec in rt_info."""
    # `import openvino` and convert_model send telemetry (each send forks a process, beside JAX's threads
    # once litert-torch has run, and tries to reach the network); it stays off when it believes it is in CI.
    with mock.patch.dict(os.environ, {"CI": "true"}):
        import openvino as ov

        model = ov.convert_model(str(onnx_path))
    ov.save_model(model, str(path), compress_to_fp16=False)
    write_spec(path, make_spec(ref))
    return path


class _NamedIO(nn.Module):
    """Takes `images` by keyword and returns a dict, so litert-torch names the TFLite signature's input and
    outputs like the ONNX export (by default they would be args_0, output_0, ...)."""

    def __init__(self, ref: Reference) -> None:
        super().__init__()
        self.module = ref.module
        self.names = ref.output_names

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.module(images)
        return dict(zip(self.names, out if isinstance(out, tuple) else (out,)))


def _check_tflite_names(ref: Reference, path: Path) -> None:
    """The spec names outputs as the file does; make sure the file really uses the names asked for."""
    from edgeseg.backends import BackendOptions, open_backend

    backend = open_backend(path, options=BackendOptions())
    try:
        got = ([t.name for t in backend.inputs], sorted(t.name for t in backend.outputs))
    finally:
        backend.close()
    if got != ([ref.input_name], sorted(ref.output_names)):
        raise AssertionError(f"{path.name}: expected I/O names {ref.input_name}, {ref.output_names}; got {got}")


def export_tflite(ref: Reference, path: Path) -> Path:
    """TFLite FP32 via litert-torch: NCHW float input (as the module takes it), named signature I/O."""
    import litert_torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.export internals, not ours
        litert_torch.convert(_NamedIO(ref).eval(), sample_kwargs={ref.input_name: torch.from_numpy(ref.example)}
                             ).export(str(path))
    _check_tflite_names(ref, path)
    write_spec(path, make_spec(ref))
    return path


def export_tflite_int8(ref: Reference, float_path: Path, path: Path, *, samples: int = 8) -> Path:
    """Static INT8 (int8 weights, activations and I/O) of a float .tflite with ai-edge-quantizer,
    calibrated on seeded random inputs in the model's 0..1 range."""
    from ai_edge_quantizer import quantizer, recipe

    q = quantizer.Quantizer(str(float_path), recipe.static_wi8_ai8())
    rng = np.random.default_rng(SEED + 1)
    calib = [{ref.input_name: rng.random(ref.example.shape, dtype=np.float32)} for _ in range(samples)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # calibration keeps all tensors on purpose
        result = q.quantize(q.calibrate({"serving_default": calib}), enable_progress_report=False)
    path.write_bytes(bytes(result.quantized_model))
    _check_tflite_names(ref, path)
    write_spec(path, make_spec(ref, precision=Precision.INT8, method="ai-edge-quantizer static_wi8_ai8"))
    return path


@dataclass(frozen=True)
class TinyModel:
    """One tiny model exported to every format, each file carrying its own spec."""

    ref: Reference
    onnx: Path
    openvino: Path  # the .xml (its .bin beside it)
    tflite: Path
    tflite_int8: Path | None  # semantic only

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.onnx, self.openvino, self.tflite, self.tflite_int8) if p is not None)


def build(kind: str, out_dir: Path) -> TinyModel:
    """Export `kind` to ONNX, OpenVINO IR, TFLite FP32 (and TFLite INT8 for the semantic net) in `out_dir`."""
    ref = torch_reference(kind)
    stem = kind.replace("-", "_")
    onnx_path = export_onnx(ref, out_dir / f"{stem}.onnx")
    xml_path = export_openvino(ref, onnx_path, out_dir / f"{stem}.xml")
    tflite_path = export_tflite(ref, out_dir / f"{stem}.tflite")
    int8_path = export_tflite_int8(ref, tflite_path, out_dir / f"{stem}_int8.tflite") if kind == "semantic" else None
    return TinyModel(ref, onnx_path, xml_path, tflite_path, int8_path)


# FP32 runtimes against PyTorch: measured max abs error 3.8e-6 (boxes in pixels) to 7.6e-6 (TFLite); OpenVINO
# meets it only with the backend's f32 precision hint (its default bf16 on this CPU gave 7e-4).
FP32_TOL = dict(rtol=1e-5, atol=1e-5)


def assert_matches_torch(out: dict[str, np.ndarray], ref: Reference) -> None:
    """A runtime's raw FP32 outputs on `ref.example` equal PyTorch's, name by name, within FP32_TOL."""
    expected = run_torch(ref)
    assert sorted(out) == sorted(expected)
    for name in expected:
        assert out[name].dtype == np.float32
        np.testing.assert_allclose(out[name], expected[name], **FP32_TOL, err_msg=name)
