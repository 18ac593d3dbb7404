"""Slow, obvious reference decoders: full-frame arrays, Python loops, float64.

They follow the documented sampling rule (frame pixel centre → model input → grid, bilinear, edges
clamped) without any of the fast paths, so the real decoders can be checked against them.
"""

from __future__ import annotations

import numpy as np


def iou_xyxy(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(xyxy, scores, class_id, iou, max_det, agnostic=False, masks=None, cross_mask_iou=None, all_mask_iou=None,
        sure_iou=None, sure_same_class=False) -> list[int]:
    """Greedy NMS. A pair whose boxes overlap above `iou` suppresses, except that
    - with `all_mask_iou`, it suppresses only if masks[i] and masks[k] overlap above it too;
    - else with `agnostic` and `cross_mask_iou`, a pair of two classes suppresses only if its masks overlap above it;
    - and with either mask test, boxes overlapping above `sure_iou` suppress whatever their masks (with
      `sure_same_class`, only boxes of one class)."""
    def suppresses(k, i):
        same = class_id[i] == class_id[k]
        box = iou_xyxy(xyxy[i], xyxy[k])
        if not (agnostic or same) or box <= iou:
            return False
        gate = all_mask_iou if all_mask_iou is not None else (cross_mask_iou if agnostic and not same else None)
        if gate is None or (sure_iou is not None and box > sure_iou and (same or not sure_same_class)):
            return True
        union = (masks[i] | masks[k]).sum()
        return union > 0 and (masks[i] & masks[k]).sum() > gate * union

    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep: list[int] = []
    for i in order:
        if not any(suppresses(k, i) for k in keep):
            keep.append(i)
        if len(keep) == max_det:
            break
    return keep


def frame_grid_coords(t, grid_hw):
    """Grid coordinates (u (W,), v (H,)) of every frame pixel centre, clamped to the grid."""
    h, w = t.frame_hw
    gh, gw = grid_hw
    ih, iw = t.input_hw
    x_in = (np.arange(w) + 0.5) * t.scale_xy[0] + t.pad_xy[0]
    y_in = (np.arange(h) + 0.5) * t.scale_xy[1] + t.pad_xy[1]
    u = np.clip(x_in / (iw / gw) - 0.5, 0, gw - 1)
    v = np.clip(y_in / (ih / gh) - 0.5, 0, gh - 1)
    return u, v


def bilinear_full(grid: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """grid (..., gh, gw) sampled at every (v[i], u[j]) → (..., H, W), float64."""
    gh, gw = grid.shape[-2:]
    x0 = np.floor(u).astype(int)
    y0 = np.floor(v).astype(int)
    x1 = np.minimum(x0 + 1, gw - 1)
    y1 = np.minimum(y0 + 1, gh - 1)
    wx = u - x0
    wy = v - y0
    g = grid.astype(np.float64)
    top = g[..., y0, :][..., :, x0] * (1 - wx) + g[..., y0, :][..., :, x1] * wx
    bot = g[..., y1, :][..., :, x0] * (1 - wx) + g[..., y1, :][..., :, x1] * wx
    return top * (1 - wy)[:, None] + bot * wy[:, None]


def crop_region(xyxy_frame, frame_hw) -> np.ndarray:
    """(H, W) bool: pixels touched by the frame box."""
    h, w = frame_hw
    region = np.zeros((h, w), bool)
    x0, y0 = int(np.floor(xyxy_frame[0])), int(np.floor(xyxy_frame[1]))
    x1, y1 = int(np.ceil(xyxy_frame[2])), int(np.ceil(xyxy_frame[3]))
    region[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)] = True
    return region


def grid_mask(coef, protos, box, input_hw, thr) -> np.ndarray:
    """(gh, gw) bool: coef · protos above thr at the grid cells whose centre lies strictly inside the input
    box, or the one cell nearest the box where none does."""
    gh, gw = protos.shape[1:]
    sx, sy = input_hw[1] / gw, input_hw[0] / gh
    cols = [g for g in range(gw) if box[0] < (g + 0.5) * sx < box[2]]
    rows = [g for g in range(gh) if box[1] < (g + 0.5) * sy < box[3]]
    if not cols:
        cols = [min(max(int(np.floor(box[0] / sx + 0.5)), 0), gw - 1)]
    if not rows:
        rows = [min(max(int(np.floor(box[1] / sy + 0.5)), 0), gh - 1)]
    region = np.zeros((gh, gw), bool)
    region[min(rows):max(rows) + 1, min(cols):max(cols) + 1] = True
    return (np.tensordot(coef, protos, axes=1) > thr) & region


def yolo_seg(predictions, protos, t, nc, nm, conf=0.25, iou=0.7, max_det=300, mask_threshold=0.5,
             agnostic=False, cross_class_mask_iou=None, mask_iou=None, sure_iou=None, claim_share=None,
             rescue_conf=None, sure_same_class=False):
    """Full reference decode of the concatenated layout → list of (xyxy_frame, score, class, full mask)."""
    floor = conf if rescue_conf is None else rescue_conf
    p = np.asarray(predictions, dtype=np.float64).reshape(4 + nc + nm, -1)
    protos = np.asarray(protos, dtype=np.float64).reshape(nm, *np.shape(protos)[-2:])
    cands = []
    for a in range(p.shape[1]):
        scores = p[4:4 + nc, a]
        c = int(np.argmax(scores))
        s = scores[c]
        cx, cy, w, h = p[:4, a]
        if not (s > floor) or not np.all(np.isfinite(p[:4, a])) or w <= 0 or h <= 0:
            continue
        cands.append(((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), s, c, p[4 + nc:, a]))
    thr = np.log(mask_threshold / (1 - mask_threshold))
    masks = None if cross_class_mask_iou is None and mask_iou is None else \
        [grid_mask(c[3], protos, c[0], t.input_hw, thr) for c in cands]
    keep = nms([c[0] for c in cands], [c[1] for c in cands], [c[2] for c in cands], iou, max_det, agnostic,
               masks, cross_class_mask_iou, mask_iou, sure_iou, sure_same_class)
    fh, fw = t.frame_hw
    u, v = frame_grid_coords(t, protos.shape[1:])
    out = []
    for k in keep:
        box, s, c, coef = cands[k]
        fb = np.array([(box[0] - t.pad_xy[0]) / t.scale_xy[0], (box[1] - t.pad_xy[1]) / t.scale_xy[1],
                       (box[2] - t.pad_xy[0]) / t.scale_xy[0], (box[3] - t.pad_xy[1]) / t.scale_xy[1]])
        fb = np.clip(fb, 0, [fw, fh, fw, fh])
        region = crop_region(fb, t.frame_hw)
        if not region.any():
            continue
        z = np.tensordot(coef, protos, axes=1)
        mask = (bilinear_full(z, u, v) > thr) & region
        out.append((fb, s, c, mask))
    return out if claim_share is None else claim(out, conf, claim_share)


def claim(dets, conf, share):
    """Keep a detection (best first) only if share of its mask is free of better kept ones; one scoring below
    conf must also free share × the median mask of those scoring conf or more, and none does without them."""
    sure = [m.sum() for _, s, _, m in dets if s >= conf]
    typical = share * np.median(sure) if sure else np.inf
    taken, kept = None, []
    for fb, s, c, mask in sorted(dets, key=lambda d: -d[1]):
        taken = np.zeros_like(mask) if taken is None else taken
        free = np.count_nonzero(mask & ~taken)
        need = share * mask.sum() if s >= conf else max(share * mask.sum(), typical)
        if free > 0 and free >= need:
            taken |= mask
            kept.append((fb, s, c, mask))
    return kept


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union
