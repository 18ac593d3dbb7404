"""YOLO-seg decoding: candidates → confidence filter → class-aware NMS → masks inside each box.

Two layouts (batch axis optional, either orientation accepted):
- concatenated (Ultralytics `output0`): predictions (4 + nc + nm, A) rows cx, cy, w, h (input pixels),
  nc class scores (0..1), nm mask coefficients; plus protos (nm, ph, pw);
- split: boxes (A, 4) cx, cy, w, h; scores (A, nc); coefficients (A, nm); protos (nm, ph, pw).
"""

from __future__ import annotations

import numpy as np

from edgeseg.decode.crops import crop_origins, proto_masks
from edgeseg.decode.nms import nms
from edgeseg.decode.options import InstanceOptions
from edgeseg.errors import DecodeError
from edgeseg.masks import CropMasks
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


def select(cxcywh: np.ndarray, scores: np.ndarray, class_id: np.ndarray, opts: InstanceOptions
           ) -> tuple[np.ndarray, np.ndarray]:
    """Valid candidates through NMS: (kept indices into the inputs, their xyxy (K, 4) in input pixels)."""
    xyxy = np.empty_like(cxcywh)
    half = cxcywh[:, 2:] / 2
    xyxy[:, :2] = cxcywh[:, :2] - half
    xyxy[:, 2:] = cxcywh[:, :2] + half
    # Non-finite numbers and empty boxes are not candidates.
    ok = np.isfinite(xyxy).all(axis=1) & np.isfinite(scores) & (half > 0).all(axis=1)
    idx = np.flatnonzero(ok)
    if len(idx) > opts.max_candidates:
        idx = idx[np.argsort(-scores[idx], kind="stable")[:opts.max_candidates]]
    keep = nms(xyxy[idx], scores[idx], None if opts.class_agnostic else class_id[idx], opts.iou, opts.max_det)
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
        cxcywh, sc, cls, co = candidates_concat(predictions, nc, nm, opts.conf)
    elif boxes is not None and scores is not None and coefficients is not None:
        cxcywh, sc, cls, co = candidates_split(boxes, scores, coefficients, nc, nm, opts.conf)
    else:
        raise DecodeError("yolo-seg: expected `predictions`, or all of `boxes`, `scores`, `coefficients`")
    if len(sc) == 0:
        return InstanceResult.empty(t.frame_hw, class_names)
    idx, xyxy_in = select(cxcywh, sc, cls, opts)
    xyxy = t.to_frame_xyxy(xyxy_in)
    origins = crop_origins(xyxy, t.frame_hw)
    visible = (origins[:, 2] > origins[:, 0]) & (origins[:, 3] > origins[:, 1])
    if not visible.all():  # boxes that lie wholly in the padding or outside the frame
        idx, xyxy, origins = idx[visible], xyxy[visible], origins[visible]
    crops = proto_masks(protos.astype(np.float32, copy=False), co[idx], origins, t, opts.mask_threshold)
    return InstanceResult(xyxy, sc[idx], cls[idx], CropMasks.trusted(crops, origins, t.frame_hw), t.frame_hw,
                          tuple(class_names))
