"""Non-maximum suppression on OpenCV's C++ implementation (float boxes, IoU > threshold suppresses)."""

from __future__ import annotations

import cv2
import numpy as np


def nms(xyxy: np.ndarray, scores: np.ndarray, class_id: np.ndarray | None, iou: float, max_det: int) -> np.ndarray:
    """Indices kept, best score first.

    xyxy (N, 4) float; scores (N,) float32; class_id (N,) int or None for class-agnostic NMS.
    Boxes must be finite with positive width and height, scores > 0 (the decoders filter them first).
    """
    if len(xyxy) == 0 or max_det <= 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.empty((len(xyxy), 4), dtype=np.float64)
    xywh[:, :2] = xyxy[:, :2]
    xywh[:, 2:] = xyxy[:, 2:] - xyxy[:, :2]
    s = np.ascontiguousarray(scores, dtype=np.float32)
    # Scores were already filtered by confidence (> conf >= 0); OpenCV refuses negative thresholds.
    floor = 0.0
    if class_id is None:
        keep = cv2.dnn.NMSBoxes(xywh, s, floor, float(iou), top_k=int(max_det))
    else:
        keep = cv2.dnn.NMSBoxesBatched(xywh, s, np.ascontiguousarray(class_id, dtype=np.int32), floor,
                                       float(iou), top_k=int(max_det))
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    # OpenCV returns best first; the batched variant may interleave classes, so order by score.
    keep = keep[np.argsort(-s[keep], kind="stable")]
    return keep[:max_det]
