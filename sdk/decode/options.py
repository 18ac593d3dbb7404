"""Keyword-only decoding options, one dataclass per task."""

from __future__ import annotations

from dataclasses import dataclass

from edgeseg.errors import InputError


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
    of one part shares its pixels too. None: box NMS alone.
    mask_iou: (YOLO-seg models) any two boxes overlapping above `iou`, whatever their classes, suppress each other
    only if their masks also overlap above this IoU; takes the place of cross_class_mask_iou. None: off.
    sure_iou: with a mask test (mask_iou or cross_class_mask_iou), boxes overlapping above this IoU suppress
    without it: the box alone is sure. None: every pair in the test's reach is decided by the masks.
    parts-inst uses iou 0.3, mask_iou 0.5, sure_iou 0.65: a hidden part's box may overlap the one on top by
    0.3-0.65 while their masks do not, where a duplicate's mask overlaps its part's.
    sure_same_class: (with sure_iou) only boxes of one class suppress outright; the mask test decides pairs of two
    classes however much their boxes overlap. With whole-object boxes (spec.box_extent "whole") a capsule lying
    across a washer has nearly the washer's box, while the pieces of one part seen in pieces box alike and are
    named alike. parts-inst: on.
    claim_share: (YOLO-seg models) after NMS the masks are laid down best score first, each taking the pixels no
    kept mask took before it; a detection is kept only if at least this share of its mask is still free then
    (a second detection of a part already found adds few pixels). None: off.
    rescue_conf: (with claim_share) candidates scoring from rescue_conf up to `conf` enter NMS and the claim
    test too, and are kept only if the free pixels they take are at least claim_share of their own mask and
    claim_share of the median mask of the detections scoring `conf` or more (none are kept in a frame without
    such detections): a part hidden under others, which the model scores low, counts when it shows pixels nothing
    else explains. None: off."""

    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    class_agnostic: bool = False
    mask_threshold: float = 0.5
    max_candidates: int = 30000
    cross_class_mask_iou: float | None = None
    mask_iou: float | None = None
    sure_iou: float | None = None
    sure_same_class: bool = False
    claim_share: float | None = None
    rescue_conf: float | None = None

    def __post_init__(self) -> None:
        if self.claim_share is not None and not 0.0 <= self.claim_share <= 1.0:
            raise InputError(f"claim_share: expected None or a share in [0, 1], got {self.claim_share!r}")
        if self.rescue_conf is not None:
            if self.claim_share is None:
                raise InputError("rescue_conf needs claim_share: rescued candidates must pass the claim test")
            if not 0.0 <= self.rescue_conf < self.conf:
                raise InputError(f"rescue_conf: expected a score in [0, conf={self.conf}), got {self.rescue_conf!r}")

    @property
    def min_score(self) -> float:
        """The lowest score a candidate may have to enter NMS: rescue_conf if set, else conf."""
        return self.conf if self.rescue_conf is None else self.rescue_conf


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
