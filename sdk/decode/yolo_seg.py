"""YOLO-seg decoding: candidates → confidence filter → class-aware NMS → masks inside each box → (optionally)
the claim test, which drops detections whose masks add too few pixels (`InstanceOptions.claim_share`).

Two layouts (batch axis optional, either orientation accepted):
- concatenated (Ultralytics `output0`): predictions (4 + nc + nm, A) rows cx, cy, w, h (input pixels),
  nc class scores (0..1), nm mask coefficients; plus protos (nm, ph, pw);
- split: boxes (A, 4) cx, cy, w, h; scores (A, nc); coefficients (A, nm); protos (nm, ph, pw).
"""

from __future__ import annotations

import numpy as np

from edgeseg.decode.crops import crop_origins, logit, proto_masks
from edgeseg.decode.nms import PairTest, boxes_overlap, nms
from edgeseg.decode.options import InstanceOptions
from edgeseg.errors import DecodeError
from edgeseg.masks import CropMasks, lay_down
from edgeseg.preprocess import Transform
from edgeseg.results import InstanceResult


def _squeeze_batch(a: np.ndarray, ndim: int, what: str) -> np.ndarray:
    a = np.asarray(a)
    while a.ndim > ndim and a.shape[0] == 1:
        a = a[0]
    if a.ndim != ndim:
        raise DecodeError(f"{what}: expected {ndim} axes (plus an optional batch of 1), got shape {a.shape}")
    return a


def _rows(a: np.ndarray, width: int, what: str) -> np.ndarray:
    """a (A, width) or (width, A) → (A, width) view."""
    a = _squeeze_batch(a, 2, what)
    if a.shape[1] == width:
        return a
    if a.shape[0] == width:
        return a.T
    raise DecodeError(f"{what}: expected (A, {width}) or ({width}, A), got {a.shape}")


def candidates_concat(pred: np.ndarray, nc: int, nm: int, conf: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """predictions (4+nc+nm, A) or (A, 4+nc+nm) → (cxcywh (K, 4), scores (K,), class_id (K,), coeffs (K, nm))
    of the anchors whose best class score exceeds `conf` (NaN scores never do)."""
    pred = _squeeze_batch(pred, 2, "predictions")
    rows = 4 + nc + nm
    if pred.shape[0] != rows:
        if pred.shape[1] != rows:
            raise DecodeError(f"predictions: expected ({rows}, A) for 4 box + {nc} class + {nm} mask rows, "
                              f"got {pred.shape}")
        pred = pred.T
    cls_scores = pred[4:4 + nc]
    best = cls_scores[0] if nc == 1 else cls_scores.max(axis=0)
    idx = np.flatnonzero(best > conf)
    sel = pred[:, idx].astype(np.float32, copy=False)
    class_id = np.zeros(len(idx), np.int32) if nc == 1 else sel[4:4 + nc].argmax(axis=0).astype(np.int32)
    return sel[:4].T, best[idx].astype(np.float32), class_id, sel[4 + nc:].T


def candidates_split(boxes: np.ndarray, scores: np.ndarray, coeffs: np.ndarray, nc: int, nm: int,
                     conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split outputs → the same tuple as `candidates_concat`."""
    boxes = _rows(boxes, 4, "boxes")
    scores = _rows(scores, nc, "scores")
    coeffs = _rows(coeffs, nm, "coefficients")
    if not len(boxes) == len(scores) == len(coeffs):
        raise DecodeError(f"boxes, scores and coefficients disagree on the anchor count: "
                          f"{len(boxes)}, {len(scores)}, {len(coeffs)}")
    best = scores[:, 0] if nc == 1 else scores.max(axis=1)
    idx = np.flatnonzero(best > conf)
    class_id = np.zeros(len(idx), np.int32) if nc == 1 else scores[idx].argmax(axis=1).astype(np.int32)
    return (boxes[idx].astype(np.float32), best[idx].astype(np.float32), class_id,
            coeffs[idx].astype(np.float32))


# Elements (candidates × window cells × coefficients) per numpy step of the mask test: bounds its memory.
_MASK_CHUNK = 4_000_000


def masks_overlap(protos: np.ndarray, coeffs: np.ndarray, xyxy_in: np.ndarray, input_hw: tuple[int, int],
                  mask_threshold: float, min_iou: float) -> PairTest:
    """Pair test for `nms`: do candidates i and j's masks overlap by IoU > min_iou?

    Each mask is coeffs · protos thresholded at the prototype grid's cells whose centre lies strictly inside
    its box (at least the one cell nearest it), computed once per candidate that is in a pair, all in one
    window size so that pairs are compared by shifting one window onto the other."""
    nm, ph, pw = protos.shape
    sx, sy = input_hw[1] / pw, input_hw[0] / ph
    xyxy_in = np.nan_to_num(xyxy_in, nan=0.0, posinf=0.0, neginf=0.0)  # invalid boxes never reach a pair
    cells = np.empty((len(xyxy_in), 4), np.int64)  # [x0, y0, x1, y1) in grid cells
    cells[:, 0] = np.floor(xyxy_in[:, 0] / sx + 0.5)
    cells[:, 1] = np.floor(xyxy_in[:, 1] / sy + 0.5)
    cells[:, 2] = np.ceil(xyxy_in[:, 2] / sx - 0.5)
    cells[:, 3] = np.ceil(xyxy_in[:, 3] / sy - 0.5)
    np.clip(cells[:, 0::2], 0, pw, out=cells[:, 0::2])
    np.clip(cells[:, 1::2], 0, ph, out=cells[:, 1::2])
    cells[:, 2:] = np.maximum(cells[:, 2:], np.minimum(cells[:, :2] + 1, [pw, ph]))
    cells[:, :2] = np.minimum(cells[:, :2], cells[:, 2:] - 1)
    cut = logit(mask_threshold)
    grid = np.ascontiguousarray(protos.transpose(1, 2, 0))  # (ph, pw, nm)

    def test(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        used, pos = np.unique(np.concatenate([i, j]), return_inverse=True)
        a, b = pos[:len(i)], pos[len(i):]
        c = cells[used]
        size = c[:, 2:] - c[:, :2]  # (K, 2) w, h
        wh, ww = int(size[:, 1].max()), int(size[:, 0].max())
        rows, cols = np.arange(wh), np.arange(ww)
        masks = np.empty((len(used), wh, ww), bool)
        step = max(1, _MASK_CHUNK // (wh * ww * nm))
        for s0 in range(0, len(used), step):
            k = slice(s0, s0 + step)
            ys = np.minimum(c[k, 1, None] + rows, ph - 1)
            xs = np.minimum(c[k, 0, None] + cols, pw - 1)
            win = grid[ys[:, :, None], xs[:, None, :]]  # (k, wh, ww, nm)
            z = np.matmul(win.reshape(len(ys), wh * ww, nm), coeffs[used[k], :, None]).reshape(len(ys), wh, ww)
            inside = (rows < size[k, 1, None])[:, :, None] & (cols < size[k, 0, None])[:, None, :]
            masks[k] = (z > cut) & inside
        area = masks.sum((1, 2))
        inter = np.empty(len(i), np.int64)
        step = max(1, _MASK_CHUNK // (wh * ww))
        for s0 in range(0, len(i), step):
            e = slice(s0, s0 + step)
            rb = rows + (c[a[e], 1] - c[b[e], 1])[:, None]  # a's window rows in b's window
            cb = cols + (c[a[e], 0] - c[b[e], 0])[:, None]
            ok = ((rb >= 0) & (rb < wh))[:, :, None] & ((cb >= 0) & (cb < ww))[:, None, :]
            other = masks[b[e, None, None], np.clip(rb, 0, wh - 1)[:, :, None], np.clip(cb, 0, ww - 1)[:, None, :]]
            inter[e] = (masks[a[e]] & other & ok).sum((1, 2))
        union = area[a] + area[b] - inter
        return (union > 0) & (inter > min_iou * union)

    return test


def cross_class_masks_overlap(class_id: np.ndarray, masks_test: PairTest) -> PairTest:
    """Pair test for `nms`: pairs of one class always suppress; pairs of two classes only if `masks_test`
    says so (their masks are computed only for those pairs)."""

    def test(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        real = class_id[i] == class_id[j]
        cross = np.flatnonzero(~real)
        if len(cross):
            real[cross] = masks_test(i[cross], j[cross])
        return real

    return test


def sure_boxes(xyxy_in: np.ndarray, sure_iou: float, test: PairTest, class_id: np.ndarray | None = None) -> PairTest:
    """Pair test for `nms`: pairs whose boxes overlap above `sure_iou` suppress outright; `test` decides the
    others (so it computes masks only for those). class_id: when given, only pairs of one class are sure."""

    def pair(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        out = boxes_overlap(xyxy_in[i], xyxy_in[j], sure_iou)
        if class_id is not None:
            out &= class_id[i] == class_id[j]
        rest = np.flatnonzero(~out)
        if len(rest):
            out[rest] = test(i[rest], j[rest])
        return out

    return pair


def select(cxcywh: np.ndarray, scores: np.ndarray, class_id: np.ndarray, opts: InstanceOptions,
           pair_test: PairTest | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Valid candidates through NMS: (kept indices into the inputs, their xyxy (K, 4) in input pixels).
    pair_test: see `nms`, with indices into the inputs."""
    xyxy = np.empty_like(cxcywh)
    half = cxcywh[:, 2:] / 2
    xyxy[:, :2] = cxcywh[:, :2] - half
    xyxy[:, 2:] = cxcywh[:, :2] + half
    # Non-finite numbers and empty boxes are not candidates.
    ok = np.isfinite(xyxy).all(axis=1) & np.isfinite(scores) & (half > 0).all(axis=1)
    idx = np.flatnonzero(ok)
    if len(idx) > opts.max_candidates:
        idx = idx[np.argsort(-scores[idx], kind="stable")[:opts.max_candidates]]
    sub = None if pair_test is None else (lambda i, j: pair_test(idx[i], idx[j]))
    keep = nms(xyxy[idx], scores[idx], None if opts.class_agnostic else class_id[idx], opts.iou, opts.max_det, sub)
    idx = idx[keep]
    return idx, xyxy[idx]


def decode_yolo_seg(*, protos: np.ndarray, t: Transform, nc: int, nm: int, opts: InstanceOptions,
                    class_names: tuple[str, ...] = (), predictions: np.ndarray | None = None,
                    boxes: np.ndarray | None = None, scores: np.ndarray | None = None,
                    coefficients: np.ndarray | None = None) -> InstanceResult:
    """Raw YOLO-seg outputs → `InstanceResult` in frame coordinates, masks as crops.

    Pass `predictions` (concatenated layout) or `boxes`, `scores`, `coefficients` (split layout), and
    `protos` (nm, ph, pw). t: the `Transform` from preprocessing.
    """
    protos = _squeeze_batch(protos, 3, "protos")
    if protos.shape[0] != nm:
        raise DecodeError(f"protos: expected {nm} prototype channels first, got shape {protos.shape}")
    if predictions is not None:
        cxcywh, sc, cls, co = candidates_concat(predictions, nc, nm, opts.min_score)
    elif boxes is not None and scores is not None and coefficients is not None:
        cxcywh, sc, cls, co = candidates_split(boxes, scores, coefficients, nc, nm, opts.min_score)
    else:
        raise DecodeError("yolo-seg: expected `predictions`, or all of `boxes`, `scores`, `coefficients`")
    if len(sc) == 0:
        return InstanceResult.empty(t.frame_hw, class_names)
    protos = protos.astype(np.float32, copy=False)
    pair_test = None
    cross = opts.mask_iou is None and opts.class_agnostic and opts.cross_class_mask_iou is not None
    if opts.mask_iou is not None or cross:
        half = cxcywh[:, 2:] / 2
        boxes_in = np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], 1)
        pair_test = masks_overlap(protos, co, boxes_in, t.input_hw, opts.mask_threshold,
                                  opts.cross_class_mask_iou if cross else opts.mask_iou)
        if cross:
            pair_test = cross_class_masks_overlap(cls, pair_test)
        if opts.sure_iou is not None:
            pair_test = sure_boxes(boxes_in, opts.sure_iou, pair_test, cls if opts.sure_same_class else None)
    idx, xyxy_in = select(cxcywh, sc, cls, opts, pair_test)
    xyxy = t.to_frame_xyxy(xyxy_in)
    origins = crop_origins(xyxy, t.frame_hw)
    visible = (origins[:, 2] > origins[:, 0]) & (origins[:, 3] > origins[:, 1])
    if not visible.all():  # boxes that lie wholly in the padding or outside the frame
        idx, xyxy, origins = idx[visible], xyxy[visible], origins[visible]
    masks = CropMasks.trusted(proto_masks(protos, co[idx], origins, t, opts.mask_threshold), origins, t.frame_hw)
    if opts.claim_share is not None:
        keep = claim_test(masks, sc[idx], opts.conf, opts.claim_share)
        idx, xyxy, masks = idx[keep], xyxy[keep], masks[keep]
    return InstanceResult(xyxy, sc[idx], cls[idx], masks, t.frame_hw, tuple(class_names))


def claim_test(masks: CropMasks, scores: np.ndarray, conf: float, share: float) -> np.ndarray:
    """masks: N crops; scores (N,) float32 → (K,) int64 indices (ascending) of the detections that keep their
    place when the masks are laid down best score first (`lay_down`): each must find at least `share` of its mask
    still free; one scoring below `conf` (a rescued candidate) must also find free at least `share` of the median
    mask of those scoring `conf` or more, and is never kept when none does: a rescue finds parts hidden under
    others, and with nothing found there is nothing to hide under. (0.2 and 0.2 for parts-inst, picked on its 500
    validation and NMS-fitting frames.)"""
    areas = masks.areas
    need = share * areas.astype(np.float64)
    sure = scores >= conf
    if not sure.all():
        typical = share * float(np.median(areas[sure])) if sure.any() else np.inf
        need = np.where(sure, need, np.maximum(need, typical))
    took = lay_down(masks, np.argsort(-scores, kind="stable"), need)
    return np.flatnonzero(took >= 0)
