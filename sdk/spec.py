"""The model spec: one typed, versioned JSON document that travels inside the model file.

It tells the runtime everything it must not guess: what the model does (task, decoder), what its input
wants (name, size, layout, dtype, colour order, resize mode, normalization), what each output means, and
where the model came from. `ModelSpec.from_json` validates and names the field that is wrong.

The document is stored under the key `SPEC_KEY` in ONNX `metadata_props`, OpenVINO `rt_info`, TFLite
metadata, or a sidecar `<model>.edgeseg.json`; `edgeseg.spec_io` reads and writes those slots.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping

from edgeseg.errors import SpecError

SPEC_VERSION = 1
SPEC_KEY = "edgeseg_spec"


class Task(str, Enum):
    SEMANTIC = "semantic"
    INSTANCE = "instance"
    PANOPTIC = "panoptic"


class DecoderKind(str, Enum):
    MASK_LOGITS = "mask-logits"  # semantic: logits (C, h, w)
    CLASS_MAP = "class-map"  # semantic: argmax folded into the graph, (h, w) integer map
    YOLO_SEG = "yolo-seg"  # instance: Ultralytics (4+nc+nm, A) + protos, or split outputs
    MASKRCNN = "maskrcnn"  # instance: torchvision boxes, labels, scores, masks (N, 1, 28, 28)


class OutputRole(str, Enum):
    LOGITS = "logits"  # (C, h, w) semantic scores
    CLASS_MAP = "class_map"  # (h, w) integer class per pixel
    PREDICTIONS = "predictions"  # YOLO-seg concatenated (4+nc+nm, A): cx, cy, w, h, class scores, coeffs
    BOXES = "boxes"  # YOLO-seg split: (A, 4) cx, cy, w, h; Mask R-CNN: (N, 4) x1, y1, x2, y2
    SCORES = "scores"  # YOLO-seg split: (A, nc); Mask R-CNN: (N,)
    COEFFICIENTS = "coefficients"  # YOLO-seg split: (A, nm)
    PROTOS = "protos"  # YOLO-seg: (nm, h, w)
    LABELS = "labels"  # Mask R-CNN: (N,) integer class
    MASKS = "masks"  # Mask R-CNN: (N, 1, m, m) probabilities inside each box


class BoxExtent(str, Enum):
    """What an instance model's boxes enclose."""

    VISIBLE = "visible"  # the pixels of the object that show (what its mask covers)
    WHOLE = "whole"  # the whole object, hidden and cut-off parts included ("amodal"): may exceed its mask


class Layout(str, Enum):
    NCHW = "NCHW"
    NHWC = "NHWC"


class ColorOrder(str, Enum):
    RGB = "RGB"
    BGR = "BGR"


class ResizeMode(str, Enum):
    LETTERBOX = "letterbox"  # keep aspect ratio, pad to the input size, content centred
    STRETCH = "stretch"  # plain resize to the input size


class InputDType(str, Enum):
    FLOAT32 = "float32"
    UINT8 = "uint8"
    INT8 = "int8"


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


@dataclass(frozen=True, kw_only=True)
class Normalization:
    """x' = (x * scale - mean) / std per channel, x in 0..255, channels in the model's colour order."""

    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    name: str
    size_hw: tuple[int, int]
    layout: Layout = Layout.NCHW
    dtype: InputDType = InputDType.FLOAT32
    color: ColorOrder = ColorOrder.RGB
    resize: ResizeMode = ResizeMode.LETTERBOX
    pad_value: int = 114
    # None means the graph normalizes itself (folded): it takes raw 0..255 pixels.
    normalization: Normalization | None = field(default_factory=Normalization)


@dataclass(frozen=True, kw_only=True)
class OutputSpec:
    name: str
    role: OutputRole


@dataclass(frozen=True, kw_only=True)
class Quantization:
    precision: Precision = Precision.FP32
    method: str = ""  # e.g. "onnxruntime-qdq", "nncf", "ai-edge-quantizer"
    calibration_images: int = 0
    float_nodes: tuple[str, ...] = ()  # layers kept in float because INT8 hurt them


@dataclass(frozen=True, kw_only=True)
class DecodeDefaults:
    """The operating point the model was validated at (instance heads): the runtime's default options.
    cross_class_mask_iou, mask_iou, sure_iou, sure_same_class, claim_share, rescue_conf: see `InstanceOptions`
    (None: off)."""

    conf: float = 0.25
    iou: float = 0.7
    class_agnostic: bool = False
    max_det: int = 300
    cross_class_mask_iou: float | None = None
    mask_iou: float | None = None
    sure_iou: float | None = None
    sure_same_class: bool = False
    claim_share: float | None = None
    rescue_conf: float | None = None


# DecodeDefaults' fields that may be None (off), each a number in [0, 1] otherwise.
OPTIONAL_DECODE_KEYS = ("cross_class_mask_iou", "mask_iou", "sure_iou", "claim_share", "rescue_conf")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    task: Task
    decoder: DecoderKind
    input: InputSpec
    outputs: tuple[OutputSpec, ...]
    class_names: tuple[str, ...]
    # Panoptic: which class ids are amorphous "stuff" (from the semantic map) and which countable "things".
    stuff: tuple[int, ...] = ()
    things: tuple[int, ...] = ()
    # Semantic output that a panoptic model carries next to its instance head.
    num_mask_coeffs: int = 0  # YOLO-seg: nm
    box_extent: BoxExtent = BoxExtent.VISIBLE  # instance models: what their boxes enclose
    quantization: Quantization = field(default_factory=Quantization)
    decode_defaults: DecodeDefaults = field(default_factory=DecodeDefaults)
    source_hash: str = ""
    converter_version: str = ""
    name: str = ""
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def output(self, role: OutputRole) -> OutputSpec | None:
        for out in self.outputs:
            if out.role == role:
                return out
        return None

    def output_name(self, role: OutputRole) -> str:
        out = self.output(role)
        if out is None:
            raise SpecError(f"spec.outputs: expected an output with role {role.value!r}, found roles "
                            f"{[o.role.value for o in self.outputs]}")
        return out.name

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "ModelSpec":
        return _parse_spec(doc)

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelSpec":
        try:
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SpecError(f"model spec is not valid JSON: {exc}") from None
        return _parse_spec(doc)

    def replace(self, **changes: Any) -> "ModelSpec":
        return dataclasses.replace(self, **changes)


# Which output roles each decoder needs; any one of the alternatives completes the set.
_REQUIRED_ROLES: dict[DecoderKind, tuple[frozenset[OutputRole], ...]] = {
    DecoderKind.MASK_LOGITS: (frozenset({OutputRole.LOGITS}),),
    DecoderKind.CLASS_MAP: (frozenset({OutputRole.CLASS_MAP}),),
    DecoderKind.YOLO_SEG: (
        frozenset({OutputRole.PREDICTIONS, OutputRole.PROTOS}),
        frozenset({OutputRole.BOXES, OutputRole.SCORES, OutputRole.COEFFICIENTS, OutputRole.PROTOS}),
    ),
    DecoderKind.MASKRCNN: (
        frozenset({OutputRole.BOXES, OutputRole.LABELS, OutputRole.SCORES, OutputRole.MASKS}),
    ),
}

_SEMANTIC_DECODERS = {DecoderKind.MASK_LOGITS, DecoderKind.CLASS_MAP}
_INSTANCE_DECODERS = {DecoderKind.YOLO_SEG, DecoderKind.MASKRCNN}


def _validate(spec: ModelSpec) -> None:
    if spec.version != SPEC_VERSION:
        raise SpecError(f"spec.version: this edgeseg reads version {SPEC_VERSION}, the model has "
                        f"{spec.version}; upgrade edgeseg or re-export the model")
    if spec.task == Task.SEMANTIC and spec.decoder not in _SEMANTIC_DECODERS:
        raise SpecError(f"spec.decoder: a semantic model needs one of "
                        f"{sorted(d.value for d in _SEMANTIC_DECODERS)}, got {spec.decoder.value!r}")
    if spec.task in (Task.INSTANCE, Task.PANOPTIC) and spec.decoder not in _INSTANCE_DECODERS:
        raise SpecError(f"spec.decoder: a {spec.task.value} model needs one of "
                        f"{sorted(d.value for d in _INSTANCE_DECODERS)}, got {spec.decoder.value!r}")
    if not spec.class_names:
        raise SpecError("spec.class_names: expected at least one class name, got none")
    h, w = spec.input.size_hw
    if h <= 0 or w <= 0:
        raise SpecError(f"spec.input.size_hw: expected two positive integers, got {spec.input.size_hw}")
    if not 0 <= spec.input.pad_value <= 255:
        raise SpecError(f"spec.input.pad_value: expected 0..255, got {spec.input.pad_value}")
    norm = spec.input.normalization
    if norm is not None and any(s == 0 for s in norm.std):
        raise SpecError(f"spec.input.normalization.std: expected non-zero values, got {norm.std}")
    if norm is None and spec.input.dtype == InputDType.INT8:
        raise SpecError("spec.input: an int8 input needs a normalization (its quantization maps floats)")
    names = [o.name for o in spec.outputs]
    if len(set(names)) != len(names):
        raise SpecError(f"spec.outputs: output names must be unique, got {names}")
    roles = {o.role for o in spec.outputs}
    if spec.task == Task.PANOPTIC:
        if not roles & {OutputRole.LOGITS, OutputRole.CLASS_MAP}:
            raise SpecError("spec.outputs: a panoptic model needs a 'logits' or 'class_map' output for stuff")
        if not spec.stuff or not spec.things:
            raise SpecError("spec.stuff/spec.things: a panoptic model must say which classes are stuff "
                            "and which are things")
    alternatives = _REQUIRED_ROLES[spec.decoder]
    if not any(alt <= roles for alt in alternatives):
        wanted = " or ".join(str(sorted(r.value for r in alt)) for alt in alternatives)
        raise SpecError(f"spec.outputs: decoder {spec.decoder.value!r} needs roles {wanted}, "
                        f"got {sorted(r.value for r in roles)}")
    n = spec.num_classes
    for key in ("stuff", "things"):
        bad = [c for c in getattr(spec, key) if not 0 <= c < n]
        if bad:
            raise SpecError(f"spec.{key}: class ids {bad} are outside 0..{n - 1}")
    d = spec.decode_defaults
    if not (0.0 <= d.conf < 1.0 and 0.0 < d.iou <= 1.0 and d.max_det > 0):
        raise SpecError(f"spec.decode_defaults: expected 0 <= conf < 1, 0 < iou <= 1, max_det > 0, got {d}")
    for key in OPTIONAL_DECODE_KEYS:
        v = getattr(d, key)
        if v is not None and not (0.0 <= v <= 1.0 if key == "claim_share" else 0.0 <= v < 1.0):
            end = "]" if key == "claim_share" else ")"
            raise SpecError(f"spec.decode_defaults.{key}: expected null or a number in [0, 1{end}, got {v}")
    if d.rescue_conf is not None and (d.claim_share is None or d.rescue_conf >= d.conf):
        raise SpecError(f"spec.decode_defaults.rescue_conf: needs claim_share and must lie below conf, got {d}")
    if spec.task == Task.SEMANTIC and spec.box_extent != BoxExtent.VISIBLE:
        raise SpecError(f"spec.box_extent: a semantic model has no boxes, got {spec.box_extent.value!r}")
    if spec.decoder == DecoderKind.YOLO_SEG and spec.num_mask_coeffs <= 0:
        raise SpecError(f"spec.num_mask_coeffs: a yolo-seg model needs the number of mask coefficients "
                        f"(> 0), got {spec.num_mask_coeffs}")


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    return value


class _Reader:
    """Pulls typed fields out of a JSON object, naming the full field path in every error."""

    def __init__(self, doc: Any, path: str) -> None:
        if not isinstance(doc, Mapping):
            raise SpecError(f"{path}: expected an object, got {type(doc).__name__}")
        self.doc = doc
        self.path = path

    def _get(self, key: str, default: Any) -> Any:
        if key in self.doc:
            return self.doc[key]
        if default is _REQUIRED:
            raise SpecError(f"{self.path}.{key}: required field is missing")
        return default

    def enum(self, key: str, kind: type[Enum], default: Any = None) -> Any:
        raw = self._get(key, _REQUIRED if default is None else default)
        if isinstance(raw, kind):
            return raw
        try:
            return kind(raw)
        except ValueError:
            allowed = [m.value for m in kind]  # type: ignore[attr-defined]
            raise SpecError(f"{self.path}.{key}: expected one of {allowed}, got {raw!r}") from None

    def str(self, key: str, default: Any = None) -> str:
        raw = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(raw, str):
            raise SpecError(f"{self.path}.{key}: expected a string, got {raw!r}")
        return raw

    def int(self, key: str, default: Any = None) -> int:
        raw = self._get(key, _REQUIRED if default is None else default)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise SpecError(f"{self.path}.{key}: expected an integer, got {raw!r}")
        return raw

    def number(self, key: str, default: Any = None) -> float:
        raw = self._get(key, _REQUIRED if default is None else default)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise SpecError(f"{self.path}.{key}: expected a number, got {raw!r}")
        return float(raw)

    def list(self, key: str, default: Any = None) -> list[Any]:
        raw = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(raw, (list, tuple)):
            raise SpecError(f"{self.path}.{key}: expected a list, got {raw!r}")
        return list(raw)

    def ints(self, key: str, length: int | None = None, default: Any = None) -> tuple[int, ...]:
        raw = self.list(key, default)
        if any(isinstance(v, bool) or not isinstance(v, int) for v in raw) or (
            length is not None and len(raw) != length
        ):
            want = f"{length} integers" if length is not None else "integers"
            raise SpecError(f"{self.path}.{key}: expected {want}, got {raw!r}")
        return tuple(raw)

    def numbers(self, key: str, length: int, default: Any = None) -> tuple[float, ...]:
        raw = self.list(key, default)
        if len(raw) != length or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in raw):
            raise SpecError(f"{self.path}.{key}: expected {length} numbers, got {raw!r}")
        return tuple(float(v) for v in raw)

    def strs(self, key: str, default: Any = None) -> tuple[str, ...]:
        raw = self.list(key, default)
        if any(not isinstance(v, str) for v in raw):
            raise SpecError(f"{self.path}.{key}: expected a list of strings, got {raw!r}")
        return tuple(raw)

    def child(self, key: str, default: Any = None) -> "_Reader | None":
        raw = self._get(key, _REQUIRED if default is None else default)
        if raw is None:
            return None
        return _Reader(raw, f"{self.path}.{key}")


_REQUIRED = object()


def _parse_spec(doc: Any) -> ModelSpec:
    r = _Reader(doc, "spec")
    # Check the version first: a future document may not parse under today's rules.
    version = r.int("version")
    if version != SPEC_VERSION:
        raise SpecError(f"spec.version: this edgeseg reads version {SPEC_VERSION}, the model has "
                        f"{version}; upgrade edgeseg or re-export the model")
    inp = r.child("input")
    assert inp is not None
    norm_reader = inp.child("normalization", default={})
    normalization = None
    if norm_reader is not None:
        normalization = Normalization(
            scale=norm_reader.number("scale", 1.0 / 255.0),
            mean=norm_reader.numbers("mean", 3, (0.0, 0.0, 0.0)),  # type: ignore[arg-type]
            std=norm_reader.numbers("std", 3, (1.0, 1.0, 1.0)),  # type: ignore[arg-type]
        )
    input_spec = InputSpec(
        name=inp.str("name"),
        size_hw=inp.ints("size_hw", 2),  # type: ignore[arg-type]
        layout=inp.enum("layout", Layout, Layout.NCHW),
        dtype=inp.enum("dtype", InputDType, InputDType.FLOAT32),
        color=inp.enum("color", ColorOrder, ColorOrder.RGB),
        resize=inp.enum("resize", ResizeMode, ResizeMode.LETTERBOX),
        pad_value=inp.int("pad_value", 114),
        normalization=normalization,
    )
    outputs = []
    for i, raw in enumerate(r.list("outputs")):
        o = _Reader(raw, f"spec.outputs[{i}]")
        outputs.append(OutputSpec(name=o.str("name"), role=o.enum("role", OutputRole)))
    q = r.child("quantization", default={})
    assert q is not None
    quantization = Quantization(
        precision=q.enum("precision", Precision, Precision.FP32),
        method=q.str("method", ""),
        calibration_images=q.int("calibration_images", 0),
        float_nodes=q.strs("float_nodes", ()),
    )
    dd = r.child("decode_defaults", default={})
    assert dd is not None
    flags = {key: dd.doc.get(key, False) for key in ("class_agnostic", "sure_same_class")}
    for key, flag in flags.items():
        if not isinstance(flag, bool):
            raise SpecError(f"spec.decode_defaults.{key}: expected true or false, got {flag!r}")
    optional = {key: None if dd.doc.get(key) is None else dd.number(key)
                for key in OPTIONAL_DECODE_KEYS}
    decode_defaults = DecodeDefaults(conf=dd.number("conf", 0.25), iou=dd.number("iou", 0.7),
                                     max_det=dd.int("max_det", 300), **flags, **optional)
    return ModelSpec(
        decode_defaults=decode_defaults,
        task=r.enum("task", Task),
        decoder=r.enum("decoder", DecoderKind),
        input=input_spec,
        outputs=tuple(outputs),
        class_names=r.strs("class_names"),
        stuff=r.ints("stuff", default=()),
        things=r.ints("things", default=()),
        num_mask_coeffs=r.int("num_mask_coeffs", 0),
        box_extent=r.enum("box_extent", BoxExtent, BoxExtent.VISIBLE),
        quantization=quantization,
        source_hash=r.str("source_hash", ""),
        converter_version=r.str("converter_version", ""),
        name=r.str("name", ""),
        version=version,
    )
