"""Semantic decoding: logits (C, h, w) or an in-graph class map (h, w) → class map in frame pixels.

Logits are upsampled bilinearly (pixel-centre rule of `edgeseg.decode.crops`) and arg-maxed, but only
where it can matter: a frame pixel whose four low-resolution neighbours share one arg-max gets that class
(a convex mix of score vectors that all peak at class c also peaks at c), so the full upsample runs on
the boundary pixels alone.
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


def _axis(n_out: int, a: float, b: float, n_grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For output pixels 0..n_out-1 at grid coordinate a*i + b: (lower cell, upper cell, weight of upper),
    clamped to the grid like a replicated border."""
    u = np.clip(a * np.arange(n_out) + b, 0, n_grid - 1)
    lo = np.floor(u).astype(np.intp)
    hi = np.minimum(lo + 1, n_grid - 1)
    return lo, hi, (u - lo).astype(np.float32)


def _class_dtype(nc: int) -> type:
    return np.uint8 if nc <= 256 else np.int32


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
    ax, bx, ay, by = grid_axis_map(t, (gh, gw))
    h, w = t.frame_hw
    x_lo, x_hi, x_w = _axis(w, ax, bx, gw)
    y_lo, y_hi, y_w = _axis(h, ay, by, gh)
    low = logits.argmax(axis=0).astype(_class_dtype(c))
    # A cell (i, j) is uniform when it and its right, lower and lower-right neighbours agree.
    right = np.concatenate([low[:, 1:], low[:, -1:]], axis=1)
    down = np.concatenate([low[1:], low[-1:]], axis=0)
    diag = np.concatenate([right[1:], right[-1:]], axis=0)
    uniform = (low == right) & (low == down) & (low == diag)
    class_map = low[y_lo][:, x_lo]
    boundary = ~uniform[y_lo][:, x_lo]
    ys, xs = np.nonzero(boundary)
    if len(ys):
        class_map[ys, xs] = _bilinear_argmax(logits, y_lo[ys], y_hi[ys], y_w[ys], x_lo[xs], x_hi[xs], x_w[xs])
    confidence = _confidence(logits, t, (ax, bx, ay, by)) if opts.confidence else None
    return SemanticResult(class_map, tuple(class_names), confidence)


def _bilinear_argmax(logits: np.ndarray, y0, y1, wy, x0, x1, wx) -> np.ndarray:
    """Arg-max over classes of bilinearly interpolated logits at K points → (K,)."""
    top = logits[:, y0, x0] * (1 - wx) + logits[:, y0, x1] * wx
    bottom = logits[:, y1, x0] * (1 - wx) + logits[:, y1, x1] * wx
    return (top * (1 - wy) + bottom * wy).argmax(axis=0)


def _confidence(logits: np.ndarray, t: Transform, axis_map: tuple[float, float, float, float]) -> np.ndarray:
    """(H, W) float32 softmax probability of the winning class, computed on the grid then upsampled."""
    z = logits - logits.max(axis=0, keepdims=True)
    p = np.exp(z)
    conf = (1.0 / p.sum(axis=0)).astype(np.float32)  # max prob = exp(0) / sum
    ax, bx, ay, by = axis_map
    h, w = t.frame_hw
    m = np.array([[ax, 0.0, bx], [0.0, ay, by]])
    return cv2.warpAffine(conf, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


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
