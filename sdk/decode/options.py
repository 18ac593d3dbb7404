"""Keyword-only decoding options, one dataclass per task."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class InstanceOptions:
    """conf: minimum class score kept.  iou: NMS overlap above which the lower-scored box is dropped.
    max_det: instances kept after NMS, best first.  class_agnostic: NMS across classes.
    mask_threshold: probability above which a pixel belongs to the mask.
    max_candidates: boxes entering NMS, best first (bounds the cost on a flood of candidates).
    cross_class_mask_iou: with class_agnostic (YOLO-seg models), two boxes of different classes overlapping
    above `iou` suppress each other only if their masks (at prototype resolution) also overlap above this IoU;
    boxes of one class suppress by box overlap alone. A capsule lying across a washer's middle or in a nut's
    hole has a box much like the part under it but not its pixels, while a second, wrongly classed detection
    of one part shares its pixels too. None: box NMS alone."""

    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    class_agnostic: bool = False
    mask_threshold: float = 0.5
    max_candidates: int = 30000
    cross_class_mask_iou: float | None = None


@dataclass(frozen=True, kw_only=True)
class SemanticOptions:
    """confidence: also return the per-pixel probability of the winning class (costs a full upsample)."""

    confidence: bool = False


@dataclass(frozen=True, kw_only=True)
class PanopticOptions:
    """instance: options for the things.  overlap: a thing whose visible share (after higher-scored things
    claim their pixels) falls below this is dropped.  min_stuff_area: smaller stuff segments become void."""

    instance: InstanceOptions = InstanceOptions()
    overlap: float = 0.5
    min_stuff_area: int = 0
