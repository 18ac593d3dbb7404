"""Raw YOLO-seg outputs with N planted objects, in a real model's layout.

A static graph's inference cost does not depend on what the frame shows, so decode cost against object
count can be measured honestly by planting N objects in raw outputs: each object is one confident anchor
plus `duplicates` weaker, overlapping anchors that NMS must suppress, on a background of low-score anchors;
prototypes are smooth random fields, so masks are irregular blobs inside each box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgeseg.preprocess import Transform, make_transform
from edgeseg.spec import ResizeMode

STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Planted:
    """Raw outputs (concatenated and split views of the same numbers) and the planted truth."""

    predictions: np.ndarray  # (1, 4 + nc + nm, A) float32
    protos: np.ndarray  # (1, nm, ph, pw) float32
    transform: Transform
    boxes_xyxy: np.ndarray  # (N, 4) planted boxes, input pixels
    class_id: np.ndarray  # (N,)
    anchors: np.ndarray  # (N,) anchor index of each planted object

    def split(self, nc: int) -> dict[str, np.ndarray]:
        p = self.predictions[0]
        return {"boxes": np.ascontiguousarray(p[:4].T[None]), "scores": np.ascontiguousarray(p[4:4 + nc].T[None]),
                "coefficients": np.ascontiguousarray(p[4 + nc:].T[None]), "protos": self.protos}


def anchor_count(input_hw: tuple[int, int]) -> int:
    h, w = input_hw
    return sum((h // s) * (w // s) for s in STRIDES)


def smooth_protos(nm: int, proto_hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(nm, ph, pw) float32 smooth fields in about -1..1; channel 0 is a constant 1 (a mask bias)."""
    ph, pw = proto_hw
    noise = rng.standard_normal((nm, ph, pw)).astype(np.float32)
    out = np.empty_like(noise)
    for k in range(nm):
        out[k] = cv2.GaussianBlur(noise[k], (0, 0), sigmaX=3)
        out[k] /= max(float(np.abs(out[k]).max()), 1e-6)
    out[0] = 1.0
    return out


def plant_yolo_seg(n: int, *, frame_hw: tuple[int, int] = (720, 1280), input_hw: tuple[int, int] = (640, 640),
                   nc: int = 3, nm: int = 32, duplicates: int = 3, seed: int = 0, num_anchors: int | None = None,
                   proto_hw: tuple[int, int] | None = None, resize: ResizeMode = ResizeMode.LETTERBOX) -> Planted:
    """N objects on a grid over the frame's content area (letterboxed into `input_hw`).

    Objects are spread so that no two planted boxes overlap; the grid gets finer (objects smaller) as N
    grows, as parts on a crowded belt do. Works for N = 0 and up to a few thousand (at most
    num_anchors / (1 + duplicates)). `num_anchors` and `proto_hw` default to a stride 8/16/32 head with
    stride-4 prototypes; pass a real model's to plant in its layout.
    """
    rng = np.random.default_rng(seed)
    t = make_transform(frame_hw, input_hw, resize)
    ih, iw = input_hw
    a = num_anchors or anchor_count(input_hw)
    proto_hw = proto_hw or (ih // 4, iw // 4)
    if n * (1 + duplicates) > a:
        duplicates = max(0, a // max(n, 1) - 1)
        if n > a:
            raise ValueError(f"cannot plant {n} objects in {a} anchors")
    preds = np.empty((4 + nc + nm, a), dtype=np.float32)
    # Background anchors: small random boxes, scores far below any sensible threshold.
    preds[0] = rng.uniform(0, iw, a)
    preds[1] = rng.uniform(0, ih, a)
    preds[2:4] = rng.uniform(4, 40, (2, a))
    preds[4:4 + nc] = rng.uniform(0.0, 0.02, (nc, a))
    preds[4 + nc:] = rng.standard_normal((nm, a)) * 0.5
    protos = smooth_protos(nm, proto_hw, rng)
    (ch, cw), (px, py) = t.content_hw, t.pad_xy
    boxes = np.zeros((n, 4), np.float32)
    cls = rng.integers(0, nc, n).astype(np.int32)
    anchors = rng.choice(a, size=n * (1 + duplicates), replace=False) if n else np.zeros(0, np.int64)
    if n:
        cols = max(1, math.ceil(math.sqrt(n * cw / ch)))
        rows = math.ceil(n / cols)
        cell_w, cell_h = cw / cols, ch / rows
        for i in range(n):
            r, c = divmod(i, cols)
            cx = px + (c + 0.5) * cell_w + rng.uniform(-0.1, 0.1) * cell_w
            cy = py + (r + 0.5) * cell_h + rng.uniform(-0.1, 0.1) * cell_h
            bw = cell_w * rng.uniform(0.45, 0.7)
            bh = cell_h * rng.uniform(0.45, 0.7)
            boxes[i] = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
            coef = rng.standard_normal(nm).astype(np.float32)
            coef[0] = 0.4  # bias: masks cover a good share of their box
            for d in range(1 + duplicates):
                k = anchors[i * (1 + duplicates) + d]
                jitter = rng.uniform(-0.04, 0.04, 4) * (bw, bh, bw, bh) if d else np.zeros(4)
                preds[:4, k] = (cx + jitter[0], cy + jitter[1], bw + jitter[2], bh + jitter[3])
                preds[4:4 + nc, k] = 0.01
                preds[4 + cls[i], k] = 0.9 - 0.1 * d
                preds[4 + nc:, k] = coef
    planted = anchors[:: 1 + duplicates] if n else anchors
    return Planted(preds[None], protos[None], t, boxes, cls, planted)
