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


def proto_masks(protos: np.ndarray, coeffs: np.ndarray, origins: np.ndarray, t: Transform,
                threshold: float) -> list[np.ndarray]:
    """One bool crop per instance from YOLO-seg prototypes.

    protos (nm, ph, pw) float32 over the whole model input; coeffs (N, nm) float32;
    origins (N, 4) int32 crop bounds from `crop_origins`; threshold: mask probability (0..1).
    Only the prototype window under each crop is combined and upsampled.
    """
    nm, ph, pw = protos.shape
    ax, bx, ay, by = grid_axis_map(t, (ph, pw))
    thr = logit(threshold)  # sigmoid(z) > p  <=>  z > logit(p): no sigmoid over pixels
    crops = []
    for (x0, y0, x1, y1), c in zip(origins.tolist(), coeffs):
        u0, u1 = ax * x0 + bx, ax * (x1 - 1) + bx
        v0, v1 = ay * y0 + by, ay * (y1 - 1) + by
        gx0, gx1 = max(int(math.floor(u0)), 0), min(int(math.floor(u1)) + 2, pw)
        gy0, gy1 = max(int(math.floor(v0)), 0), min(int(math.floor(v1)) + 2, ph)
        window = protos[:, gy0:gy1, gx0:gx1]
        z = (c @ window.reshape(nm, -1)).reshape(gy1 - gy0, gx1 - gx0)
        m = np.array([[ax, 0.0, u0 - gx0], [0.0, ay, v0 - gy0]])
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
