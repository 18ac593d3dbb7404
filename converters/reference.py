"""The repo's reference models as `Source`s, so they go through the same export path as any user model.

Their trained weights ship with edgeseg.convert (`converters/weights/<name>.pt`, state dicts written by
examples/train_reference_models.py); `source(name)` rebuilds the architecture and loads them.
"""

from __future__ import annotations

from pathlib import Path

from edgeseg.backends import require
from edgeseg.convert.source import Source
from edgeseg.errors import ModelLoadError
from edgeseg.spec import BoxExtent, DecodeDefaults, DecoderKind, OutputRole, OutputSpec, Task

WEIGHTS = Path(__file__).resolve().parent / "weights"
SEG_HW = (736, 1280)  # a 1280×720 frame at scale 1, letterboxed to multiples of 32
INST_HW = (384, 640)  # a 1280×720 frame at scale 1/2
SEG_CLASSES = ("background", "part", "defect")
INST_CLASSES = ("hex_nut", "washer", "capsule")
NM = 16
# parts-inst's operating point, chosen on frames it was not trained on (the suppression rule on 300 frames of
# their own, then checked on the validation and held-out frames): class-agnostic NMS, because neighbouring
# cells sometimes name one part with two classes; boxes overlapping by IoU 0.3-0.65 suppress only where their
# masks overlap too (IoU > 0.5), so a capsule lying in a nut's hole or across a washer keeps the part under it,
# and boxes overlapping more suppress outright, as a duplicate with a ragged mask would. parts-inst's boxes are
# whole-part boxes (its last training stage regresses each part's whole extent, hidden pixels included; its spec
# says so: box_extent "whole"), so the pieces of a part seen in two pieces box alike and suppress outright; its
# masks are the visible pixels. Only boxes of one class suppress outright (sure_same_class): a capsule lying across
# a washer has nearly the washer's whole box, and the mask test keeps both (on the 3000 fresh frames of seeds
# 20261202 / 20261208 / 20261210: exact count 0.930 against 0.927 with every pair sure on the weights before stage 7
# was retrained on more overlapping parts, 2813 against 2809 frames on the retrained ones;
# docs/parts-inst-experiments.md).
INST_DECODE = DecodeDefaults(conf=0.4, iou=0.3, class_agnostic=True, max_det=300, mask_iou=0.5, sure_iou=0.65,
                             sure_same_class=True,
                             claim_share=0.2, rescue_conf=0.03)
REFERENCE_NAMES = ("parts-seg", "parts-inst")


def build(name: str, weights: str | Path | None = None) -> Source:
    """The architecture of `name` as a `Source`; with `weights`, a state dict is loaded into it."""
    torch = require("torch", "convert")
    from edgeseg.convert import reference_models as rm

    if name == "parts-seg":
        module = rm.PartsSegNet(num_classes=len(SEG_CLASSES))
        src = dict(task=Task.SEMANTIC, decoder=DecoderKind.MASK_LOGITS, class_names=SEG_CLASSES, input_hw=SEG_HW,
                   outputs=(OutputSpec(name="logits", role=OutputRole.LOGITS),))
    elif name == "parts-inst":
        module = rm.PartsInstNet(num_classes=len(INST_CLASSES), nm=NM)
        roles = (OutputRole.BOXES, OutputRole.SCORES, OutputRole.COEFFICIENTS, OutputRole.PROTOS)
        src = dict(task=Task.INSTANCE, decoder=DecoderKind.YOLO_SEG, class_names=INST_CLASSES, input_hw=INST_HW,
                   num_mask_coeffs=NM, outputs=tuple(OutputSpec(name=r.value, role=r) for r in roles),
                   decode_defaults=INST_DECODE, box_extent=BoxExtent.WHOLE)
    else:
        raise ModelLoadError(f"{name!r}: not a reference model; expected one of {list(REFERENCE_NAMES)}")
    if weights is not None:
        module.load_state_dict(torch.load(str(weights), map_location="cpu", weights_only=True))
    return Source(module=module.eval(), name=name, **src)


def source(name: str) -> Source:
    """The trained reference model `name`, weights from edgeseg.convert's package data."""
    path = WEIGHTS / f"{name}.pt"
    if not path.is_file():
        raise ModelLoadError(f"{path}: the trained weights of {name!r} are not in this install")
    return build(name, path)
