"""Mask R-CNN decoding (torchvision export): boxes, labels, scores, masks (N, 1, m, m) → crops.

torchvision has already run NMS in the graph; here the confidence filter and `max_det` apply, and each
m × m mask is pasted into its box at frame resolution.
"""

from __future__ import annotations

import numpy as np

from edgeseg.decode.crops import box_masks, crop_origins
from edgeseg.decode.options import InstanceOptions
from edgeseg.decode.yolo_seg import _squeeze_batch
from edgeseg.errors import DecodeError
from edgeseg.masks import CropMasks
from edgeseg.preprocess import Transform
from edgeseg.results import InstanceResult


def decode_maskrcnn(*, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray, masks: np.ndarray,
                    t: Transform, opts: InstanceOptions, class_names: tuple[str, ...] = ()) -> InstanceResult:
    """boxes (N, 4) xyxy input pixels; labels (N,) int; scores (N,) float; masks (N, 1, m, m) or (N, m, m)
    probabilities → `InstanceResult`."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    masks = np.asarray(masks, dtype=np.float32)
    if masks.ndim == 4:
        masks = masks[:, 0]
    if masks.ndim != 3 or masks.shape[0] != len(boxes):
        masks = _squeeze_batch(masks, 3, "masks")
    if not len(boxes) == len(labels) == len(scores) == len(masks):
        raise DecodeError(f"maskrcnn: boxes {boxes.shape}, labels {labels.shape}, scores {scores.shape} and "
                          f"masks {masks.shape} disagree on the instance count")
    ok = (np.isfinite(boxes).all(axis=1) & np.isfinite(scores) & (scores > opts.conf)
          & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))
    idx = np.flatnonzero(ok)
    idx = idx[np.argsort(-scores[idx], kind="stable")][:opts.max_det]
    xyxy = t.to_frame_xyxy(boxes[idx])
    origins = crop_origins(xyxy, t.frame_hw)
    visible = (origins[:, 2] > origins[:, 0]) & (origins[:, 3] > origins[:, 1])
    idx, xyxy, origins = idx[visible], xyxy[visible], origins[visible]
    if len(idx) == 0:
        return InstanceResult.empty(t.frame_hw, class_names)
    crops = box_masks(np.nan_to_num(masks[idx]), boxes[idx], origins, t, opts.mask_threshold)
    return InstanceResult(xyxy, scores[idx], labels[idx].astype(np.int32), CropMasks.trusted(crops, origins, t.frame_hw),
                          t.frame_hw, tuple(class_names))
