"""Accuracy metrics on compact masks: semantic IoU, COCO-style mask (and box) AP, count error.

Mask AP follows the COCO evaluation rules (per image and class: detections by score, each matched to the
unmatched ground truth of highest IoU ≥ t; per class: precision made monotone and read at 101 recall
points; classes without ground truth left out; AP50-95 averages t = 0.50, 0.55, ..., 0.95), with one
deliberate difference: no 100-detections-per-image cap (`max_dets`), because frames here hold up to 300
parts. Box AP is the same with box IoU in place of mask IoU. Ground truth may be marked "ignore" (COCO's
`ignore` flag: a part barely in view, at a frame's edge): it is no part to find, and a detection that matches
it (at IoU ≥ t, when no other part is left to match) is neither right nor wrong. tests/benchmarks/test_metrics.py
checks all three against pycocotools.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgeseg.masks import CropMasks

IOU_THRESHOLDS = np.round(np.arange(0.5, 0.951, 0.05), 2)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of (N, 4) xyxy boxes, float64."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    wh = np.clip(np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def crop_iou_matrix(a: CropMasks, b: CropMasks) -> np.ndarray:
    """(len(a), len(b)) mask IoU, computed only where the crops overlap (never on full frames)."""
    out = np.zeros((len(a), len(b)), dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return out
    oa, ob = a.origins_xyxy.astype(np.int64), b.origins_xyxy.astype(np.int64)
    area_a, area_b = a.areas, b.areas
    x0 = np.maximum(oa[:, None, 0], ob[None, :, 0])
    y0 = np.maximum(oa[:, None, 1], ob[None, :, 1])
    x1 = np.minimum(oa[:, None, 2], ob[None, :, 2])
    y1 = np.minimum(oa[:, None, 3], ob[None, :, 3])
    for i, j in zip(*np.nonzero((x1 > x0) & (y1 > y0))):
        ax0, ay0 = oa[i, 0], oa[i, 1]
        bx0, by0 = ob[j, 0], ob[j, 1]
        sa = a.crops[i][y0[i, j] - ay0:y1[i, j] - ay0, x0[i, j] - ax0:x1[i, j] - ax0]
        sb = b.crops[j][y0[i, j] - by0:y1[i, j] - by0, x0[i, j] - bx0:x1[i, j] - bx0]
        inter = np.count_nonzero(sa & sb)
        union = area_a[i] + area_b[j] - inter
        out[i, j] = inter / union if union else 0.0
    return out


@dataclass
class MaskAP:
    """Accumulates per-image matches; `summary()` gives AP50, AP50-95 and per-class AP.
    kind "mask": `add` takes CropMasks (keys mask_ap50, mask_ap); "box": (N, 4) xyxy boxes (box_ap50, box_ap)."""

    num_classes: int
    max_dets: int | None = None
    kind: str = "mask"
    # Per class: lists of (scores, tp matrix (T, D), ignored matrix (T, D)) per image, and ground-truth counts.
    _scores: list[list[np.ndarray]] = field(default_factory=list)
    _tps: list[list[np.ndarray]] = field(default_factory=list)
    _ignored: list[list[np.ndarray]] = field(default_factory=list)
    _gts: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.kind not in ("mask", "box"):
            raise ValueError(f"kind: expected 'mask' or 'box', got {self.kind!r}")
        self._scores = [[] for _ in range(self.num_classes)]
        self._tps = [[] for _ in range(self.num_classes)]
        self._ignored = [[] for _ in range(self.num_classes)]
        self._gts = np.zeros(self.num_classes, dtype=np.int64)

    def add(self, pred: CropMasks | np.ndarray, pred_scores: np.ndarray, pred_class: np.ndarray,
            gt: CropMasks | np.ndarray, gt_class: np.ndarray, gt_ignore: np.ndarray | None = None) -> None:
        """One image: predictions (masks or boxes, scores, class ids) against ground truth (masks or boxes, class
        ids), masks or boxes as `kind` says; gt_ignore: (G,) bool, truth to ignore (None: none)."""
        iou_matrix = crop_iou_matrix if self.kind == "mask" else box_iou_matrix
        pred_class = np.asarray(pred_class)
        gt_class = np.asarray(gt_class)
        ignore = np.zeros(len(gt_class), bool) if gt_ignore is None else np.asarray(gt_ignore, bool)
        if len(ignore) != len(gt_class):
            raise ValueError(f"gt_ignore: expected {len(gt_class)} flags, got {len(ignore)}")
        for c in range(self.num_classes):
            gi = np.flatnonzero(gt_class == c)
            di = np.flatnonzero(pred_class == c)
            self._gts[c] += int(np.sum(~ignore[gi]))
            if len(di) == 0:
                continue
            di = di[np.argsort(-np.asarray(pred_scores)[di], kind="mergesort")]
            if self.max_dets is not None:
                di = di[:self.max_dets]
            ious = iou_matrix(pred[di], gt[gi])
            ig = ignore[gi]
            tp = np.zeros((len(IOU_THRESHOLDS), len(di)), dtype=bool)
            dropped = np.zeros_like(tp)
            for t, thr in enumerate(IOU_THRESHOLDS):
                taken = np.zeros(len(gi), dtype=bool)
                bar = min(thr, 1 - 1e-10)
                for d in range(len(di)):
                    # The best free part to find; only when there is none, the best free part to ignore.
                    for pool, hit in ((~ig, tp), (ig, dropped)):
                        cand = np.where(taken | ~pool, -1.0, ious[d])
                        g = int(np.argmax(cand)) if len(cand) else 0
                        if len(cand) and cand[g] >= bar:
                            taken[g] = True
                            hit[t, d] = True
                            break
            self._scores[c].append(np.asarray(pred_scores)[di])
            self._tps[c].append(tp)
            self._ignored[c].append(dropped)

    def per_class_ap(self) -> np.ndarray:
        """(C, T) AP per class and IoU threshold; NaN for classes without ground truth."""
        out = np.full((self.num_classes, len(IOU_THRESHOLDS)), np.nan)
        for c in range(self.num_classes):
            if self._gts[c] == 0:
                continue
            if not self._scores[c]:
                out[c] = 0.0
                continue
            scores = np.concatenate(self._scores[c])
            tp = np.concatenate(self._tps[c], axis=1)
            dropped = np.concatenate(self._ignored[c], axis=1)
            order = np.argsort(-scores, kind="mergesort")
            tp, dropped = tp[:, order], dropped[:, order]
            tps = np.cumsum(tp, axis=1)
            fps = np.cumsum(~tp & ~dropped, axis=1)
            for t in range(len(IOU_THRESHOLDS)):
                recall = tps[t] / self._gts[c]
                precision = tps[t] / np.maximum(tps[t] + fps[t], np.finfo(np.float64).eps)
                precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone from the right
                idx = np.searchsorted(recall, RECALL_POINTS, side="left")
                q = np.zeros(len(RECALL_POINTS))
                valid = idx < len(precision)
                q[valid] = precision[idx[valid]]
                out[c, t] = q.mean()
        return out

    def summary(self) -> dict[str, float | list[float | None]]:
        ap = self.per_class_ap()
        present = ~np.isnan(ap[:, 0])
        k = self.kind
        if not present.any():
            return {f"{k}_ap50": float("nan"), f"{k}_ap": float("nan"), "per_class_ap50": [None] * self.num_classes}
        return {f"{k}_ap50": float(ap[present, 0].mean()), f"{k}_ap": float(ap[present].mean()),
                "per_class_ap50": [None if np.isnan(v) else float(v) for v in ap[:, 0]]}


@dataclass
class ConfusionIoU:
    """Accumulates a confusion matrix of semantic maps: rows are ground truth (C), columns predictions
    (C, plus one column for predicted values outside 0..C-1, which count against recall)."""

    num_classes: int
    matrix: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes + 1), dtype=np.int64)

    def add(self, pred: np.ndarray, truth: np.ndarray, ignore: int | None = None) -> None:
        """pred and truth (H, W) integer class maps of one frame; `ignore`: a truth value to skip."""
        t = truth.ravel().astype(np.int64)
        p = pred.ravel().astype(np.int64)
        c = self.num_classes
        keep = (t >= 0) & (t < c)
        if ignore is not None:
            keep &= t != ignore
        p = np.where((p >= 0) & (p < c), p, c)
        self.matrix += np.bincount(t[keep] * (c + 1) + p[keep], minlength=c * (c + 1)).reshape(c, c + 1)

    def per_class_iou(self) -> np.ndarray:
        """(C,) IoU per class; NaN for classes absent from both truth and predictions."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix[:, :self.num_classes].sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / union, np.nan)

    def miou(self) -> float:
        iou = self.per_class_iou()
        return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float("nan")

    def pixel_accuracy(self) -> float:
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % (z = 1.96) Wilson score interval of a rate hits / n: how far a rate measured on n frames may lie
    from the model's true rate (exact count on 90 of 100 frames: 0.826-0.945). (nan, nan) for n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def count_errors(predicted: list[int], truth: list[int], truth_most: list[int] | None = None
                 ) -> dict[str, float | list[float]]:
    """Count agreement over frames: exact rate with its 95 % Wilson interval, mean absolute error, mean relative
    error (frames with N > 0). truth_most: where some parts are to ignore, each frame's count is right anywhere
    from `truth` (the parts to find) to `truth_most` (all parts), and its error is the distance to that range."""
    p = np.asarray(predicted, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    most = t if truth_most is None else np.asarray(truth_most, dtype=np.float64)
    if len(t) == 0:
        return {"count_exact_rate": float("nan"), "count_exact_ci95": [float("nan")] * 2, "count_mae": float("nan"),
                "count_mean_rel_error": float("nan")}
    err = np.maximum(t - p, 0) + np.maximum(p - most, 0)
    rel = err[t > 0] / t[t > 0]
    hits = int(np.sum(err == 0))
    return {"count_exact_rate": hits / len(t), "count_exact_ci95": list(wilson_interval(hits, len(t))),
            "count_mae": float(np.mean(err)),
            "count_mean_rel_error": float(rel.mean()) if len(rel) else float("nan")}
