"""Semantic decoding: logits (C, h, w) or an in-graph class map (h, w) → class map in frame pixels.

Only the grid cells under the frame (not the letterbox padding) are upsampled, one class at a time,
bilinearly with the pixel-centre rule of `edgeseg.decode.crops`, and a running arg-max keeps one
(H, W) score plane and the class map in memory instead of a (C, H, W) stack. When the frame covers a
whole number of grid cells (the common letterbox cases) cv2.resize does each plane exactly; otherwise
warpAffine does.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgeseg.decode.crops import grid_axis_map
from edgeseg.decode.options import SemanticOptions
from edgeseg.decode.yolo_seg import _squeeze_batch
from edgeseg.errors import DecodeError
from edgeseg.preprocess import Transform
from edgeseg.results import SemanticResult


def _class_dtype(nc: int) -> type:
    return np.uint8 if nc <= 256 else np.int32


def _aligned_window(t: Transform, grid_hw: tuple[int, int]) -> tuple[int, int, int, int, int, int] | None:
    """(gy0, gy1, gx0, gx1, ky, kx) when the frame's content covers whole grid cells gy0..gy1 × gx0..gx1 and
    each cell is a whole number of frame pixels (ky × kx); else None.

    cv2.resize by (ky, kx) then samples frame pixel X at u = ax * X + bx exactly.
    """
    ih, iw = t.input_hw
    gh, gw = grid_hw
    stx, sty = iw / gw, ih / gh
    ch, cw = t.content_hw
    edges = (t.pad_xy[1] / sty, (t.pad_xy[1] + ch) / sty, t.pad_xy[0] / stx, (t.pad_xy[0] + cw) / stx)
    if any(abs(e - round(e)) > 1e-6 for e in edges):
        return None
    gy0, gy1, gx0, gx1 = (round(e) for e in edges)
    h, w = t.frame_hw
    if gy1 <= gy0 or gx1 <= gx0 or h % (gy1 - gy0) or w % (gx1 - gx0):
        return None
    return gy0, gy1, gx0, gx1, h // (gy1 - gy0), w // (gx1 - gx0)


def upsampler(t: Transform, grid_hw: tuple[int, int]):
    """A function grid plane (h, w) float32 → frame plane (H, W) float32, bilinear, pixel-centre rule."""
    h, w = t.frame_hw
    aligned = _aligned_window(t, grid_hw)
    if aligned is not None:
        gy0, gy1, gx0, gx1, ky, kx = aligned
        # One extra cell each side (where the grid has one), so edge pixels interpolate with their true
        # neighbours rather than a replicated window edge.
        ey0, ey1, ex0, ex1 = max(gy0 - 1, 0), min(gy1 + 1, grid_hw[0]), max(gx0 - 1, 0), min(gx1 + 1, grid_hw[1])
        size = ((ex1 - ex0) * kx, (ey1 - ey0) * ky)
        oy, ox = (gy0 - ey0) * ky, (gx0 - ex0) * kx
        return lambda plane: cv2.resize(plane[ey0:ey1, ex0:ex1], size,
                                        interpolation=cv2.INTER_LINEAR)[oy:oy + h, ox:ox + w]
    ax, bx, ay, by = grid_axis_map(t, grid_hw)
    m = np.array([[ax, 0.0, bx], [0.0, ay, by]])
    return lambda plane: cv2.warpAffine(plane, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                        borderMode=cv2.BORDER_REPLICATE)


def decode_logits(logits: np.ndarray, t: Transform, class_names: tuple[str, ...] = (),
                  opts: SemanticOptions = SemanticOptions()) -> SemanticResult:
    """logits (C, h, w) float (batch axis optional) → `SemanticResult` with an (H, W) class map."""
    logits = _squeeze_batch(logits, 3, "logits").astype(np.float32, copy=False)
    c, gh, gw = logits.shape
    if class_names and c != len(class_names):
        raise DecodeError(f"logits: expected {len(class_names)} classes first, got shape {logits.shape}")
    if not np.isfinite(logits).all():
        # Finite stand-ins keep the interpolation weights meaningful (0 * inf is NaN).
        logits = np.nan_to_num(logits, nan=-1e30, posinf=1e30, neginf=-1e30)
    up = upsampler(t, (gh, gw))
    best = up(logits[0])
    best = np.ascontiguousarray(best)
    class_map = np.zeros(best.shape, dtype=_class_dtype(c))
    better = np.empty(best.shape, dtype=bool)
    for k in range(1, c):
        plane = up(logits[k])
        np.greater(plane, best, out=better)  # strict: ties keep the lower class, as argmax does
        np.maximum(best, plane, out=best)
        np.copyto(class_map, k, where=better)
    confidence = _confidence(logits, up) if opts.confidence else None
    return SemanticResult(class_map, tuple(class_names), confidence)


def _confidence(logits: np.ndarray, up) -> np.ndarray:
    """(H, W) float32 softmax probability of the winning class, computed on the grid then upsampled."""
    z = logits - logits.max(axis=0, keepdims=True)
    conf = (1.0 / np.exp(z).sum(axis=0)).astype(np.float32)  # max prob = exp(0) / sum
    return np.ascontiguousarray(up(conf))


def decode_class_map(class_map: np.ndarray, t: Transform, class_names: tuple[str, ...] = ()) -> SemanticResult:
    """class_map (h, w) integer (batch axis optional) → `SemanticResult`, nearest-neighbour to the frame."""
    cm = _squeeze_batch(class_map, 2, "class_map")
    if not np.issubdtype(cm.dtype, np.integer):
        if not np.isfinite(cm).all():
            raise DecodeError("class_map: contains NaN or inf")
        cm = cm.astype(np.int64)
    n = max(len(class_names), 1)
    if cm.size and (cm.min() < 0 or (class_names and cm.max() >= n)):
        raise DecodeError(f"class_map: values {int(cm.min())}..{int(cm.max())} outside 0..{n - 1}")
    gh, gw = cm.shape
    ax, bx, ay, by = grid_axis_map(t, (gh, gw))
    h, w = t.frame_hw
    xs = np.clip(np.floor(ax * np.arange(w) + bx + 0.5), 0, gw - 1).astype(np.intp)
    ys = np.clip(np.floor(ay * np.arange(h) + by + 0.5), 0, gh - 1).astype(np.intp)
    out = cm.astype(_class_dtype(int(cm.max(initial=0)) + 1), copy=False)[ys][:, xs]
    return SemanticResult(out, tuple(class_names))
