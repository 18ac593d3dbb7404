"""Instance masks computed inside each box, at frame resolution, as crops.

Sampling rule shared by every instance decoder (and by the slow reference in the tests): the centre of
frame pixel X lies at model-input x = (X + 0.5) * sx + pad_x; a mask grid of stride s (input pixels per
grid cell) sees it at u = x / s - 0.5, and is sampled there bilinearly. A crop covers the pixels that the
(clipped) frame box touches: columns floor(x1) .. ceil(x2) - 1.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgeseg.preprocess import Transform

_WARP = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP


def crop_origins(xyxy_frame: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """(N, 4) int32 pixel bounds [x0, y0, x1, y1) touched by each float frame box, inside the frame."""
    h, w = frame_hw
    out = np.empty((len(xyxy_frame), 4), dtype=np.int32)
    out[:, :2] = np.floor(xyxy_frame[:, :2])
    out[:, 2:] = np.ceil(xyxy_frame[:, 2:])
    np.clip(out[:, 0::2], 0, w, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, h, out=out[:, 1::2])
    return out


def grid_axis_map(t: Transform, grid_hw: tuple[int, int]) -> tuple[float, float, float, float]:
    """(ax, bx, ay, by) with u = ax * X + bx, v = ay * Y + by the grid coordinates of frame pixel (X, Y)."""
    ih, iw = t.input_hw
    gh, gw = grid_hw
    stx, sty = iw / gw, ih / gh
    sx, sy = t.scale_xy
    px, py = t.pad_xy
    return sx / stx, (0.5 * sx + px) / stx - 0.5, sy / sty, (0.5 * sy + py) / sty - 0.5


def logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def integer_upsample(a: float, b: float) -> tuple[int, int] | None:
    """(k, offset) when u = a * X + b is exactly cv2.resize's map of an integer k× upsample, so that grid
    cell g starts at frame pixel k * g + offset; None otherwise.

    cv2.resize (float, bilinear) samples destination pixel x at (x + 0.5) / k - 0.5 of its source: an
    upsampled window starting at cell g covers frame pixels from (g - 0.5 + 0.5 / k - b) * k on.
    """
    if a <= 0:
        return None
    k = round(1.0 / a)
    if k < 1 or abs(k * a - 1.0) > 1e-9:
        return None
    off = (-0.5 + 0.5 * a - b) * k
    if abs(off - round(off)) > 1e-6:
        return None
    return k, round(off)


def proto_masks(protos: np.ndarray, coeffs: np.ndarray, origins: np.ndarray, t: Transform,
                threshold: float) -> list[np.ndarray]:
    """One bool crop per instance from YOLO-seg prototypes.

    protos (nm, ph, pw) float32 over the whole model input; coeffs (N, nm) float32;
    origins (N, 4) int32 crop bounds from `crop_origins`; threshold: mask probability (0..1).
    Only the prototype window under each crop is combined and upsampled: by cv2.resize when the frame
    is an integer multiple of the prototype grid (the common letterbox cases; several times faster than
    warpAffine here), else by warpAffine. Both sample exactly the rule in this module's docstring.
    """
    nm, ph, pw = protos.shape
    ax, bx, ay, by = grid_axis_map(t, (ph, pw))
    fast_x, fast_y = integer_upsample(ax, bx), integer_upsample(ay, by)
    thr = logit(threshold)  # sigmoid(z) > p  <=>  z > logit(p): no sigmoid over pixels
    m = np.zeros((2, 3))
    m[0, 0], m[1, 1] = ax, ay
    # Grid windows for every instance at once: cells from floor(u0) to floor(u1) + 1, inclusive.
    o = origins.astype(np.float64)
    u0, u1 = ax * o[:, 0] + bx, ax * (o[:, 2] - 1) + bx
    v0, v1 = ay * o[:, 1] + by, ay * (o[:, 3] - 1) + by
    gx0 = np.maximum(np.floor(u0), 0).astype(np.int64)
    gx1 = np.minimum(np.floor(u1) + 2, pw).astype(np.int64)
    gy0 = np.maximum(np.floor(v0), 0).astype(np.int64)
    gy1 = np.minimum(np.floor(v1) + 2, ph).astype(np.int64)
    crops = []
    rows = zip(origins.tolist(), gx0.tolist(), gx1.tolist(), gy0.tolist(), gy1.tolist(), (u0 - gx0).tolist(),
               (v0 - gy0).tolist(), coeffs)
    for (x0, y0, x1, y1), wx0, wx1, wy0, wy1, du, dv, c in rows:
        z = (c @ protos[:, wy0:wy1, wx0:wx1].reshape(nm, -1)).reshape(wy1 - wy0, wx1 - wx0)
        if fast_x and fast_y:
            (kx, ox), (ky, oy) = fast_x, fast_y
            up = cv2.resize(z, ((wx1 - wx0) * kx, (wy1 - wy0) * ky), interpolation=cv2.INTER_LINEAR)
            sx0, sy0 = x0 - (kx * wx0 + ox), y0 - (ky * wy0 + oy)
            if sx0 >= 0 and sy0 >= 0 and sx0 + x1 - x0 <= up.shape[1] and sy0 + y1 - y0 <= up.shape[0]:
                crops.append(up[sy0:sy0 + y1 - y0, sx0:sx0 + x1 - x0] > thr)
                continue
        m[0, 2], m[1, 2] = du, dv
        up = cv2.warpAffine(z, m, (x1 - x0, y1 - y0), flags=_WARP, borderMode=cv2.BORDER_REPLICATE)
        crops.append(up > thr)
    return crops


def box_masks(masks: np.ndarray, boxes_in: np.ndarray, origins: np.ndarray, t: Transform,
              threshold: float) -> list[np.ndarray]:
    """One bool crop per instance from fixed-size masks that span their own box (Mask R-CNN).

    masks (N, m, m) float32 probabilities; boxes_in (N, 4) xyxy in model-input pixels;
    origins (N, 4) int32 crop bounds. Outside its box a mask is background.
    """
    n, mh, mw = masks.shape
    sx, sy = t.scale_xy
    px, py = t.pad_xy
    crops = []
    for (x0, y0, x1, y1), (bx0, by0, bx1, by1), mk in zip(origins.tolist(), boxes_in.tolist(), masks):
        stx = max(bx1 - bx0, 1e-6) / mw
        sty = max(by1 - by0, 1e-6) / mh
        ax, ay = sx / stx, sy / sty
        u0 = ((x0 + 0.5) * sx + px - bx0) / stx - 0.5
        v0 = ((y0 + 0.5) * sy + py - by0) / sty - 0.5
        m = np.array([[ax, 0.0, u0], [0.0, ay, v0]])
        up = cv2.warpAffine(mk, m, (x1 - x0, y1 - y0), flags=_WARP, borderMode=cv2.BORDER_REPLICATE)
        cx = (np.arange(x0, x1) + 0.5) * sx + px
        cy = (np.arange(y0, y1) + 0.5) * sy + py
        # A pixel whose centre lies outside the box is background: a mask ends at its box.
        inside = ((cy >= by0) & (cy < by1))[:, None] & ((cx >= bx0) & (cx < bx1))[None, :]
        crops.append((up > threshold) & inside)
    return crops
