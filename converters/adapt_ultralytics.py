"""Ultralytics YOLO-seg (v8, 11, 26 segment models) → `Source`.

`from_ultralytics(model)` takes what a user has: a `YOLO` object, its inner segmentation model
(`yolo.model`), a checkpoint dict, or the path of a `.pt` checkpoint. Nothing here imports ultralytics;
unpickling a checkpoint imports it the way `torch.load` always does, from the caller's environment.

The model is deep-copied (the caller's object is left as it was) and put in export mode the way
Ultralytics' own exporter does it: eval, float, no gradients, and on the head `export=True`,
`format="onnx"`, `dynamic=False`, `xyxy=False`, a cleared anchor cache, and `end2end=False` so an
NMS-free (YOLO26) model exports its one-to-many branch, which our decoder runs NMS on. Conv/BN fusion is
left out: onnxruntime and OpenVINO fold batch norm when they load the graph, and Ultralytics' `fuse()`
also deletes the one-to-many branch of end-to-end heads.

Layouts (A anchors over all strides, nm mask coefficients, protos at stride 4):
- concatenated (default): output0 (1, 4+nc+nm, A) rows cx, cy, w, h (input pixels), nc class scores
  (0..1), nm coefficients; protos (1, nm, H/4, W/4). Exactly what Ultralytics exports.
- `split=True`: boxes (1, A, 4) cx, cy, w, h; scores (1, A, nc); coefficients (1, A, nm); protos. The
  head's forward is replaced by one that never concatenates the three, so INT8 gives each its own scale
  (TOOLCHAIN.md: one scale for pixel boxes, 0..1 scores and coefficients wrecked the coefficients).
  The split graph is checked against the concatenated one on a probe input before it is returned.

Input conventions are Ultralytics': RGB, 0..255 → x/255, letterbox (centred) with pad value 114.
"""

from __future__ import annotations

import copy
import types
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgeseg.backends import require
from edgeseg.convert.source import Source
from edgeseg.errors import InputError
from edgeseg.spec import (ColorOrder, DecoderKind, Normalization, OutputRole, OutputSpec, ResizeMode, Task)

CONCAT_OUTPUTS = (OutputSpec(name="output0", role=OutputRole.PREDICTIONS),
                  OutputSpec(name="protos", role=OutputRole.PROTOS))
SPLIT_OUTPUTS = (OutputSpec(name="boxes", role=OutputRole.BOXES), OutputSpec(name="scores", role=OutputRole.SCORES),
                 OutputSpec(name="coefficients", role=OutputRole.COEFFICIENTS),
                 OutputSpec(name="protos", role=OutputRole.PROTOS))
# Split vs concatenated outputs on the probe input, both FP32 on CPU: the same arithmetic in another
# order differs by float rounding only (measured ≤ 1e-4 px on 640×640 boxes).
_SPLIT_ATOL = 1e-3


torch = require("torch", "convert")


def _head_of(net: Any) -> Any | None:
    """The segmentation head (last layer) of an Ultralytics detection model, else None."""
    layers = getattr(net, "model", None)
    if layers is None or not hasattr(layers, "__getitem__") or not hasattr(layers, "__len__") or not len(layers):
        return None
    head = layers[-1]
    needed = ("nc", "nm", "stride", "proto", "cv2", "cv3", "cv4")
    return head if all(hasattr(head, a) for a in needed) else None


def _load_checkpoint(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"ultralytics checkpoint: {path} is not a file")
    # Ultralytics checkpoints pickle whole modules: loading one runs code from the file, so only load
    # files you trust (weights_only=False is what Ultralytics itself does).
    return torch.load(str(path), map_location="cpu", weights_only=False)


def segmentation_model(model: Any) -> Any:
    """The inner segmentation `nn.Module` of a YOLO object, checkpoint dict or path (duck-typed)."""
    obj = model
    if isinstance(obj, (str, Path)):
        obj = _load_checkpoint(Path(obj))
    if isinstance(obj, Mapping):  # a checkpoint: {"model": ..., "ema": ..., "train_args": ...}
        inner = obj.get("ema") or obj.get("model")
        if inner is None:
            raise InputError(f"ultralytics checkpoint: expected a 'model' or 'ema' entry, got keys {sorted(obj)}")
        obj = inner
    for _ in range(3):  # YOLO → SegmentationModel (→ nn.Sequential of layers, whose last is the head)
        if _head_of(obj) is not None:
            return obj
        obj = getattr(obj, "model", None)
        if obj is None:
            break
    raise InputError(f"expected an Ultralytics segmentation model (a YOLO object, its .model, a checkpoint or its "
                     f"path) whose last layer is a Segment head (nc, nm, proto, cv2/cv3/cv4), got "
                     f"{type(model).__name__}")


def _class_names(net: Any, nc: int, names: Sequence[str] | Mapping[int, str] | None) -> tuple[str, ...]:
    raw = names if names is not None else getattr(net, "names", None)
    if raw is None:
        return tuple(f"class{i}" for i in range(nc))
    if isinstance(raw, Mapping):
        raw = [raw[k] for k in sorted(raw)]
    out = tuple(str(n) for n in raw)
    if len(out) != nc:
        raise InputError(f"names: the model predicts {nc} classes, got {len(out)} names")
    return out


def _input_hw(imgsz: int | Sequence[int], max_stride: int) -> tuple[int, int]:
    hw = (int(imgsz), int(imgsz)) if isinstance(imgsz, (int, float)) else tuple(int(v) for v in imgsz)
    if len(hw) != 2 or min(hw) <= 0 or any(v % max_stride for v in hw):
        raise InputError(f"imgsz: expected a positive size (or (h, w)) that is a multiple of the model's largest "
                         f"stride {max_stride}, got {imgsz}")
    return hw  # type: ignore[return-value]


def _export_mode(net: Any, head: Any) -> None:
    """What Ultralytics' exporter does to the model before tracing, on our own copy."""
    net.eval()
    net.float()
    for p in net.parameters():
        p.requires_grad_(False)
    head.export = True
    head.format = "onnx"
    head.dynamic = False
    head.shape = None  # anchor cache: rebuilt for the export size
    if hasattr(head, "xyxy"):
        head.xyxy = False  # cx, cy, w, h, as the yolo-seg decoder reads them
    if getattr(head, "one2one_cv2", None) is not None:
        if head.cv2 is None:
            raise InputError("this end-to-end (NMS-free) model was fused, which deleted its one-to-many branch; "
                             "pass the unfused model or its checkpoint")
        head.end2end = False


def _split_forward(head: Any, x: list) -> tuple:
    """The head's inference output as separate tensors, never concatenated across their kinds.

    Same arithmetic as the Ultralytics head in export mode: per-level box distributions → DFL expectation
    (identity when reg_max is 1) → left/top/right/bottom distances from the cell centres → cx, cy, w, h
    times the level's stride; sigmoid class scores; raw mask coefficients; prototypes from the first
    level (or from all levels, for heads whose prototype module refines over scales).
    """
    b = x[0].shape[0]
    nl = len(x)
    box = torch.cat([head.cv2[i](x[i]).view(b, 4 * head.reg_max, -1) for i in range(nl)], 2)
    cls = torch.cat([head.cv3[i](x[i]).view(b, head.nc, -1) for i in range(nl)], 2)
    coef = torch.cat([head.cv4[i](x[i]).view(b, head.nm, -1) for i in range(nl)], 2)
    centres, strides = [], []
    for i in range(nl):
        h, w = x[i].shape[2:]
        sy, sx = torch.meshgrid(torch.arange(h, dtype=x[0].dtype) + 0.5, torch.arange(w, dtype=x[0].dtype) + 0.5,
                                indexing="ij")
        centres.append(torch.stack((sx, sy), 0).view(2, -1))
        strides.append(torch.full((1, h * w), head.edgeseg_strides[i], dtype=x[0].dtype))
    centre, stride = torch.cat(centres, 1).unsqueeze(0), torch.cat(strides, 1).unsqueeze(0)
    dist = head.dfl(box)  # (b, 4, A) in cells
    x1y1, x2y2 = centre - dist[:, :2], centre + dist[:, 2:]
    cxcywh = torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1], 1) * stride
    proto = head.proto(x if hasattr(head.proto, "feat_refine") else x[0])
    if isinstance(proto, (tuple, list)):
        proto = proto[0]
    return cxcywh.transpose(1, 2), cls.sigmoid().transpose(1, 2), coef.transpose(1, 2), proto


def from_ultralytics(model: Any, *, imgsz: int | Sequence[int] = 640,
                     names: Sequence[str] | Mapping[int, str] | None = None, split: bool = False,
                     name: str = "") -> Source:
    """An Ultralytics YOLO-seg model as a `Source` (decoder "yolo-seg").

    model: `YOLO` object, its `.model`, a checkpoint dict, or a `.pt` path (trusted files only: unpickling
    runs code). imgsz: input size, int or (h, w), a multiple of the largest stride (32). names: class names
    (default: the model's own). split: separate boxes/scores/coefficients outputs (better INT8).
    """
    net = copy.deepcopy(segmentation_model(model))
    head = _head_of(net)
    nc, nm = int(head.nc), int(head.nm)
    strides = [int(s) for s in torch.as_tensor(head.stride).flatten().tolist()]
    if not strides or min(strides) <= 0:
        raise InputError(f"the Segment head has no strides ({head.stride!r}); was the model built?")
    hw = _input_hw(imgsz, max(strides))
    class_names = _class_names(net, nc, names)
    _export_mode(net, head)
    anchors = sum((hw[0] // s) * (hw[1] // s) for s in strides)
    probe = torch.zeros(1, 3, *hw)
    with torch.no_grad():
        out = net(probe)
    output0, protos = _concat_outputs(out)
    want = [(1, 4 + nc + nm, anchors), (1, nm, hw[0] // 4, hw[1] // 4)]
    if [tuple(output0.shape), tuple(protos.shape)] != want:
        raise InputError(f"unexpected Ultralytics export layout: got output0 {tuple(output0.shape)}, protos "
                         f"{tuple(protos.shape)}; expected {want[0]} and {want[1]}")
    if split:
        module = _Split(net, head)
        with torch.no_grad():
            got = module(probe)
        joined = torch.cat([got[0].transpose(1, 2), got[1].transpose(1, 2), got[2].transpose(1, 2)], 1)
        err = max(float((joined - output0).abs().max()), float((got[3] - protos).abs().max()))
        if not err <= _SPLIT_ATOL:
            raise InputError(f"split=True: this head's layout differs from the one edgeseg re-implements (max "
                             f"difference {err:.3g} from the concatenated output); export with split=False")
        outputs = SPLIT_OUTPUTS
    else:
        module = _Concat(net)
        outputs = CONCAT_OUTPUTS
    yaml = getattr(net, "yaml", None)
    yaml_name = Path(str(yaml.get("yaml_file", ""))).stem if isinstance(yaml, dict) else ""
    return Source(module=module.eval(), task=Task.INSTANCE, decoder=DecoderKind.YOLO_SEG, outputs=outputs,
                  class_names=class_names, input_hw=hw, input_name="images", color=ColorOrder.RGB,
                  resize=ResizeMode.LETTERBOX, pad_value=114, normalization=Normalization(scale=1.0 / 255.0),
                  num_mask_coeffs=nm, name=name or yaml_name or "yolo-seg")


def _concat_outputs(out: Any) -> tuple:
    """(output0, protos) from a head in export mode: `(output0, protos)`, possibly nested once more."""
    if isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[0], (tuple, list)):
        out = out[0]
    if not isinstance(out, (tuple, list)) or len(out) != 2 or not all(hasattr(o, "shape") for o in out):
        raise InputError(f"the model in export mode returned {type(out).__name__}, expected (output0, protos)")
    return out[0], out[1]


class _Concat(torch.nn.Module):
    """output0 (1, 4+nc+nm, A), protos (1, nm, H/4, W/4)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _concat_outputs(self.net(x))


class _Split(torch.nn.Module):
    """boxes (1, A, 4), scores (1, A, nc), coefficients (1, A, nm), protos (1, nm, H/4, W/4)."""

    def __init__(self, net: torch.nn.Module, head: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        head.edgeseg_strides = tuple(float(s) for s in head.stride.flatten().tolist())  # constants, not traced
        head.forward = types.MethodType(_split_forward, head)  # on our deep copy only

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.net(x))
