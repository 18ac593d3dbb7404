"""torchvision segmentation models → `Source`.

- `from_torchvision_segmentation`: DeepLabV3, FCN, LRASPP (any module whose forward returns a dict with
  "out"): the wrapper returns the "out" logits (1, C, H, W) → decoder "mask-logits".
- `from_torchvision_maskrcnn`: Mask R-CNN → decoder "maskrcnn" with boxes (N, 4) xyxy in input pixels,
  labels (N,) int64 (0 is background, so `class_names[0]` names it), scores (N,), masks (N, 1, 28, 28).

Mask R-CNN in eval pastes each 28×28 mask into a full-image (N, 1, H, W) tensor (`transform.postprocess`);
the exported graph stops before that: backbone → RPN → ROI heads, whose masks are already the
per-box probabilities (sigmoid of the predicted class's mask logits) that `decode_maskrcnn` pastes
inside each box at frame resolution. That is N × 28 × 28 floats instead of N × H × W, and boxes stay in
input pixels. The model's own `transform` (resize to `min_size`, normalize, pad) is replaced by
edgeseg's preprocessing at a fixed `input_hw`, so pick an `input_hw` near the size the model was trained
at (torchvision's default resizes the short side to 800). NMS, score threshold and `detections_per_img`
run inside the graph as set on `model.roi_heads`. Only ONNX and OpenVINO are expected to convert it.

Input conventions for both: RGB, 0..255 → (x/255 - mean) / std with the model's own mean/std (Mask R-CNN
keeps them on `model.transform`; the classification-backbone models use ImageNet's). Resize is a
letterbox: torchvision's references train and evaluate these models on aspect-preserving resizes, so a
stretch would show them shapes they never saw. The pad value is the mean pixel (≈ 0 after
normalization), which is what torchvision's own zero padding of normalized batches amounts to.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

from edgeseg.backends import require
from edgeseg.convert.source import Source
from edgeseg.errors import InputError
from edgeseg.spec import ColorOrder, DecoderKind, Normalization, OutputRole, OutputSpec, ResizeMode, Task

torch = require("torch", "convert")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MASKRCNN_OUTPUTS = (OutputSpec(name="boxes", role=OutputRole.BOXES), OutputSpec(name="labels", role=OutputRole.LABELS),
                    OutputSpec(name="scores", role=OutputRole.SCORES), OutputSpec(name="masks", role=OutputRole.MASKS))


def imagenet_normalization(mean: Sequence[float] = IMAGENET_MEAN,
                           std: Sequence[float] = IMAGENET_STD) -> tuple[Normalization, int]:
    """(normalization, letterbox pad value) for inputs normalized with `mean`/`std` on a 0..1 scale; the pad
    is the mean pixel so padding reads ≈ 0 to the model."""
    mean3 = tuple(float(m) for m in mean)
    std3 = tuple(float(s) for s in std)
    if len(mean3) != 3 or len(std3) != 3:
        raise InputError(f"normalization: expected 3 means and 3 stds (RGB), got {mean3} and {std3}")
    pad = int(round(255.0 * sum(mean3) / 3.0))
    return Normalization(scale=1.0 / 255.0, mean=mean3, std=std3), pad  # type: ignore[arg-type]


def check_input_hw(input_hw: Sequence[int], multiple: int = 1) -> tuple[int, int]:
    hw = tuple(int(v) for v in input_hw)
    if len(hw) != 2 or min(hw) <= 0 or any(v % multiple for v in hw):
        what = f"positive integers, multiples of {multiple}" if multiple > 1 else "positive integers"
        raise InputError(f"input_hw: expected (height, width), {what}; got {tuple(input_hw)}")
    return hw  # type: ignore[return-value]


def _names(class_names: Sequence[str] | None, n: int, what: str) -> tuple[str, ...]:
    if class_names is None:
        return tuple(f"class{i}" for i in range(n))
    names = tuple(str(c) for c in class_names)
    if len(names) != n:
        raise InputError(f"class_names: the model has {n} {what}, got {len(names)} names")
    return names


def _prepared(model: Any) -> Any:
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"expected a torch.nn.Module, got {type(model).__name__}")
    net = copy.deepcopy(model).eval().float()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class _OutLogits(torch.nn.Module):
    """x (1, 3, H, W) → the model's "out" logits (1, C, H, W); the "aux" head is not exported."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out["out"] if isinstance(out, dict) else out


def from_torchvision_segmentation(model: Any, *, input_hw: Sequence[int], class_names: Sequence[str] | None = None,
                                  name: str = "") -> Source:
    """A torchvision semantic segmentation model (DeepLabV3, FCN, LRASPP) as a `Source` ("mask-logits")."""
    net = _prepared(model)
    hw = check_input_hw(input_hw)
    module = _OutLogits(net).eval()
    if hasattr(net, "aux_classifier"):
        net.aux_classifier = None  # the models skip a None aux head; it would only cost time in the graph
    with torch.no_grad():
        out = net(torch.zeros(1, 3, *hw))
    if not isinstance(out, dict) or "out" not in out:
        raise InputError(f"expected a torchvision segmentation model whose forward returns a dict with 'out', got "
                         f"{type(out).__name__}")
    logits = out["out"]
    if logits.ndim != 4 or logits.shape[0] != 1:
        raise InputError(f"'out': expected logits (1, C, H, W), got {tuple(logits.shape)}")
    norm, pad = imagenet_normalization()
    return Source(module=module, task=Task.SEMANTIC, decoder=DecoderKind.MASK_LOGITS,
                  outputs=(OutputSpec(name="logits", role=OutputRole.LOGITS),),
                  class_names=_names(class_names, int(logits.shape[1]), "output channels"), input_hw=hw,
                  color=ColorOrder.RGB, resize=ResizeMode.LETTERBOX, pad_value=pad, normalization=norm,
                  name=name or type(model).__name__.lower())


class _Images:
    """What the RPN reads from torchvision's ImageList: the batch tensor and each image's (h, w)."""

    def __init__(self, tensors: torch.Tensor, image_sizes: list[tuple[int, int]]) -> None:
        self.tensors = tensors
        self.image_sizes = image_sizes


class _MaskRCNN(torch.nn.Module):
    """x (1, 3, H, W) normalized → boxes (N, 4) xyxy, labels (N,), scores (N,), masks (N, 1, 28, 28) probabilities,
    all in the input's pixels: the model without its resize/normalize transform and without the paste."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.backbone = net.backbone
        self.rpn = net.rpn
        self.roi_heads = net.roi_heads

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        images = _Images(x, [(int(x.shape[-2]), int(x.shape[-1]))])
        features = self.backbone(x)
        if isinstance(features, torch.Tensor):
            features = {"0": features}
        proposals, _ = self.rpn(images, features)
        detections, _ = self.roi_heads(features, proposals, images.image_sizes)
        d = detections[0]
        return d["boxes"], d["labels"], d["scores"], d["masks"]


def from_torchvision_maskrcnn(model: Any, *, input_hw: Sequence[int], class_names: Sequence[str] | None = None,
                              name: str = "") -> Source:
    """A torchvision Mask R-CNN as a `Source` ("maskrcnn"). class_names: one per label including the
    background at 0 (default "class0".. from the box predictor's size)."""
    for part in ("backbone", "rpn", "roi_heads", "transform"):
        if not hasattr(model, part):
            raise InputError(f"expected a torchvision Mask R-CNN (backbone, rpn, roi_heads, transform), "
                             f"{type(model).__name__} has no {part!r}")
    if getattr(model.roi_heads, "mask_head", None) is None:
        raise InputError("this detection model has no mask head (roi_heads.mask_head): a Faster R-CNN? "
                         "edgeseg exports instance masks")
    net = _prepared(model)
    hw = check_input_hw(input_hw)
    predictor = getattr(net.roi_heads, "box_predictor", None)
    num_classes = int(predictor.cls_score.out_features) if hasattr(predictor, "cls_score") else None
    if num_classes is None:
        raise InputError("roi_heads.box_predictor: expected a cls_score layer that says the number of classes")
    norm, pad = imagenet_normalization(getattr(net.transform, "image_mean", IMAGENET_MEAN),
                                       getattr(net.transform, "image_std", IMAGENET_STD))
    names = _names(class_names, num_classes, "labels (background included)")
    return Source(module=_MaskRCNN(net).eval(), task=Task.INSTANCE, decoder=DecoderKind.MASKRCNN,
                  outputs=MASKRCNN_OUTPUTS, class_names=names, input_hw=hw, color=ColorOrder.RGB,
                  resize=ResizeMode.LETTERBOX, pad_value=pad, normalization=norm, name=name or "maskrcnn")
