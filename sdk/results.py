"""One result type per task, as frozen dataclasses of parallel arrays in frame coordinates.

Arrays handed out are read-only. Index an `InstanceResult` with a boolean mask or index array to filter
it (`r[r.scores > 0.5]`, `r[r.class_id == 2]`); zero instances is a normal, well-typed result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from edgeseg.errors import InputError
from edgeseg.masks import CropMasks


@dataclass(frozen=True)
class Timings:
    """Milliseconds each stage of one frame took."""

    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    decode_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.decode_ms

    def to_dict(self) -> dict[str, float]:
        return {"preprocess_ms": round(self.preprocess_ms, 3), "inference_ms": round(self.inference_ms, 3),
                "decode_ms": round(self.decode_ms, 3), "total_ms": round(self.total_ms, 3)}


def _frozen(a: np.ndarray, dtype: Any, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        raise InputError(f"{name}: expected shape (N, {', '.join(map(str, shape_tail))})".replace(", )", ")")
                         + f", got {arr.shape}")
    if arr is a and arr.flags.writeable:
        arr = arr.copy()
    arr.flags.writeable = False
    return arr


def palette(n: int) -> np.ndarray:
    """n distinct BGR colours (uint8), stable across runs."""
    hues = (np.arange(n) * 0.618033988749895 % 1.0 * 179).astype(np.uint8)
    hsv = np.stack([hues, np.full(n, 200, np.uint8), np.full(n, 255, np.uint8)], axis=1)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]


@dataclass(frozen=True)
class InstanceResult:
    """N instances. xyxy (N, 4) float32 frame pixels; scores (N,) float32; class_id (N,) int32;
    masks: `CropMasks` (one bool crop per instance); frame_hw (H, W)."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_id: np.ndarray
    masks: CropMasks
    frame_hw: tuple[int, int]
    class_names: tuple[str, ...] = ()
    timings: Timings = field(default_factory=Timings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "xyxy", _frozen(self.xyxy, np.float32, (4,), "xyxy"))
        object.__setattr__(self, "scores", _frozen(self.scores, np.float32, (), "scores"))
        object.__setattr__(self, "class_id", _frozen(self.class_id, np.int32, (), "class_id"))
        n = len(self.xyxy)
        if not (len(self.scores) == len(self.class_id) == len(self.masks) == n):
            raise InputError(f"parallel arrays differ in length: xyxy {n}, scores {len(self.scores)}, "
                             f"class_id {len(self.class_id)}, masks {len(self.masks)}")
        if tuple(self.masks.frame_hw) != tuple(self.frame_hw):
            raise InputError(f"masks are for a {self.masks.frame_hw} frame, result for {self.frame_hw}")

    @classmethod
    def empty(cls, frame_hw: tuple[int, int], class_names: tuple[str, ...] = (),
              timings: Timings | None = None) -> "InstanceResult":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32),
                   CropMasks.empty(frame_hw), tuple(frame_hw), tuple(class_names), timings or Timings())

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> "InstanceResult":
        idx = np.atleast_1d(np.arange(len(self))[index])
        return replace(self, xyxy=self.xyxy[idx], scores=self.scores[idx], class_id=self.class_id[idx],
                       masks=self.masks[idx])

    @property
    def areas(self) -> np.ndarray:
        """(N,) int64 mask area in frame pixels."""
        return self.masks.areas

    def class_name(self, c: int) -> str:
        return self.class_names[c] if 0 <= c < len(self.class_names) else str(c)

    def counts(self) -> dict[str, int]:
        """Instances per class name (every class listed, zero included)."""
        ids, n = np.unique(self.class_id, return_counts=True)
        out = {name: 0 for name in self.class_names}
        for c, k in zip(ids.tolist(), n.tolist()):
            out[self.class_name(c)] = out.get(self.class_name(c), 0) + k
        return out

    def label_map(self) -> np.ndarray:
        """(H, W) int32: 0 background, i + 1 for instance i; higher scores drawn last (on top)."""
        out = np.zeros(self.frame_hw, dtype=np.int32)
        for i in np.argsort(self.scores, kind="stable"):
            x0, y0, x1, y1 = self.masks.origins_xyxy[i]
            view = out[y0:y1, x0:x1]
            view[self.masks.crops[i]] = i + 1
        return out

    def polygons(self) -> list[list[np.ndarray]]:
        """Per instance, its outer contours as (K, 2) int32 frame (x, y) vertices."""
        return [self.masks.polygons(i) for i in range(len(self))]

    def to_coco(self, image_id: int = 0, category_ids: list[int] | None = None) -> list[dict]:
        """COCO-style result annotations with uncompressed RLE segmentation."""
        cats = category_ids if category_ids is not None else list(range(max(len(self.class_names), 1)))
        anns = []
        for i in range(len(self)):
            x0, y0, x1, y1 = (float(v) for v in self.xyxy[i])
            c = int(self.class_id[i])
            anns.append({"image_id": image_id, "category_id": cats[c] if c < len(cats) else c,
                         "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(self.scores[i]),
                         "area": int(self.areas[i]), "segmentation": self.masks.rle(i)})
        return anns

    def to_dict(self, *, rle: bool = False) -> dict:
        instances = []
        for i in range(len(self)):
            item = {"class_id": int(self.class_id[i]), "class_name": self.class_name(int(self.class_id[i])),
                    "score": round(float(self.scores[i]), 5),
                    "xyxy": [round(float(v), 2) for v in self.xyxy[i]], "area": int(self.areas[i])}
            if rle:
                item["rle"] = self.masks.rle(i)
            instances.append(item)
        return {"task": "instance", "frame_hw": list(self.frame_hw), "count": len(self),
                "counts": self.counts(), "instances": instances, "timings": self.timings.to_dict()}

    def to_json(self, *, rle: bool = False) -> str:
        return json.dumps(self.to_dict(rle=rle))

    def overlay(self, frame: np.ndarray, *, alpha: float = 0.5, boxes: bool = True,
                labels: bool = True) -> np.ndarray:
        """A copy of `frame` (H, W, 3) uint8 BGR with masks, boxes and labels drawn."""
        _check_overlay_frame(frame, self.frame_hw)
        out = frame.copy()
        colors = palette(max(len(self.class_names), int(self.class_id.max(initial=0)) + 1))
        for i in range(len(self)):
            x0, y0, x1, y1 = self.masks.origins_xyxy[i]
            color = colors[self.class_id[i]].astype(np.float32)
            view = out[y0:y1, x0:x1]
            m = self.masks.crops[i]
            view[m] = (view[m] * (1 - alpha) + color * alpha).astype(np.uint8)
        for i in range(len(self)):
            color = tuple(int(v) for v in colors[self.class_id[i]])
            bx0, by0, bx1, by1 = (int(round(v)) for v in self.xyxy[i])
            if boxes:
                cv2.rectangle(out, (bx0, by0), (bx1 - 1, by1 - 1), color, 1)
            if labels:
                text = f"{self.class_name(int(self.class_id[i]))} {self.scores[i]:.2f}"
                cv2.putText(out, text, (bx0, max(by0 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1,
                            cv2.LINE_AA)
        return out


def _check_overlay_frame(frame: np.ndarray, frame_hw: tuple[int, int]) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = frame.shape if isinstance(frame, np.ndarray) else type(frame).__name__
        raise InputError(f"overlay: expected an H×W×3 uint8 frame, got {got}")
    if frame.shape[:2] != tuple(frame_hw):
        raise InputError(f"overlay: result is for a {tuple(frame_hw)} frame, got {frame.shape[:2]}")


@dataclass(frozen=True)
class SemanticResult:
    """class_map (H, W) integer class per frame pixel; confidence (H, W) float32 or None."""

    class_map: np.ndarray
    class_names: tuple[str, ...] = ()
    confidence: np.ndarray | None = None
    timings: Timings = field(default_factory=Timings)

    def __post_init__(self) -> None:
        cm = np.asarray(self.class_map)
        if cm.ndim != 2 or not np.issubdtype(cm.dtype, np.integer):
            raise InputError(f"class_map: expected an (H, W) integer array, got {cm.shape} {cm.dtype}")
        cm.flags.writeable = False
        object.__setattr__(self, "class_map", cm)
        if self.confidence is not None:
            conf = np.asarray(self.confidence, dtype=np.float32)
            if conf.shape != cm.shape:
                raise InputError(f"confidence: expected shape {cm.shape}, got {conf.shape}")
            conf.flags.writeable = False
            object.__setattr__(self, "confidence", conf)

    @property
    def frame_hw(self) -> tuple[int, int]:
        return tuple(self.class_map.shape)  # type: ignore[return-value]

    @property
    def pixel_counts(self) -> np.ndarray:
        """(C,) int64 pixels per class."""
        n = max(len(self.class_names), int(self.class_map.max(initial=0)) + 1)
        return np.bincount(self.class_map.ravel(), minlength=n)

    @property
    def area_fraction(self) -> np.ndarray:
        """(C,) float64 share of the frame per class."""
        return self.pixel_counts / max(self.class_map.size, 1)

    def class_name(self, c: int) -> str:
        return self.class_names[c] if 0 <= c < len(self.class_names) else str(c)

    def label_map(self) -> np.ndarray:
        return self.class_map

    def mask(self, c: int) -> np.ndarray:
        """(H, W) bool pixels of class `c`."""
        return self.class_map == c

    def to_coco(self, image_id: int = 0) -> list[dict]:
        """One RLE annotation per class present."""
        anns = []
        h, w = self.frame_hw
        for c in np.flatnonzero(self.pixel_counts).tolist():
            masks = CropMasks([self.mask(c)], np.array([[0, 0, w, h]]), (h, w))
            anns.append({"image_id": image_id, "category_id": c, "segmentation": masks.rle(0),
                         "area": int(self.pixel_counts[c])})
        return anns

    def to_dict(self) -> dict:
        counts = self.pixel_counts
        return {"task": "semantic", "frame_hw": list(self.frame_hw),
                "classes": [{"class_id": c, "class_name": self.class_name(c), "pixels": int(counts[c]),
                             "area_fraction": round(float(counts[c]) / self.class_map.size, 6)}
                            for c in range(len(counts))],
                "timings": self.timings.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def overlay(self, frame: np.ndarray, *, alpha: float = 0.5, background: int | None = 0) -> np.ndarray:
        """A copy of `frame` with each class tinted; `background` (a class id or None) is left untinted."""
        _check_overlay_frame(frame, self.frame_hw)
        colors = palette(max(len(self.class_names), int(self.class_map.max(initial=0)) + 1))
        tint = colors[self.class_map]
        out = cv2.addWeighted(frame, 1 - alpha, tint, alpha, 0)
        if background is not None:
            keep = self.class_map == background
            out[keep] = frame[keep]
        return out


@dataclass(frozen=True)
class PanopticResult:
    """label_map (H, W) int32 segment ids (0 = void); parallel arrays over segments:
    segment_id (S,) int32, class_id (S,) int32, is_thing (S,) bool, area (S,) int64, score (S,) float32
    (1.0 for stuff)."""

    label_map_: np.ndarray
    segment_id: np.ndarray
    class_id: np.ndarray
    is_thing: np.ndarray
    area: np.ndarray
    score: np.ndarray
    class_names: tuple[str, ...] = ()
    timings: Timings = field(default_factory=Timings)

    def __post_init__(self) -> None:
        lm = np.asarray(self.label_map_, dtype=np.int32)
        if lm.ndim != 2:
            raise InputError(f"label_map: expected (H, W), got {lm.shape}")
        lm.flags.writeable = False
        object.__setattr__(self, "label_map_", lm)
        for name, dtype in (("segment_id", np.int32), ("class_id", np.int32), ("is_thing", bool),
                            ("area", np.int64), ("score", np.float32)):
            object.__setattr__(self, name, _frozen(getattr(self, name), dtype, (), name))
        if not len(self.segment_id) == len(self.class_id) == len(self.is_thing) == len(self.area) == len(
                self.score):
            raise InputError("panoptic segment arrays differ in length")

    @property
    def frame_hw(self) -> tuple[int, int]:
        return tuple(self.label_map_.shape)  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.segment_id)

    def label_map(self) -> np.ndarray:
        return self.label_map_

    def class_name(self, c: int) -> str:
        return self.class_names[c] if 0 <= c < len(self.class_names) else str(c)

    def counts(self) -> dict[str, int]:
        """Thing segments per class name."""
        out = {}
        for c in self.class_id[self.is_thing].tolist():
            out[self.class_name(c)] = out.get(self.class_name(c), 0) + 1
        return out

    def to_dict(self) -> dict:
        segs = [{"id": int(s), "class_id": int(c), "class_name": self.class_name(int(c)), "is_thing": bool(t),
                 "area": int(a), "score": round(float(p), 5)}
                for s, c, t, a, p in zip(self.segment_id, self.class_id, self.is_thing, self.area, self.score)]
        return {"task": "panoptic", "frame_hw": list(self.frame_hw), "segments": segs,
                "counts": self.counts(), "timings": self.timings.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def overlay(self, frame: np.ndarray, *, alpha: float = 0.5) -> np.ndarray:
        _check_overlay_frame(frame, self.frame_hw)
        colors = np.zeros((int(self.label_map_.max(initial=0)) + 1, 3), np.uint8)
        pal = palette(len(self) + 1)
        for k, s in enumerate(self.segment_id.tolist()):
            colors[s] = pal[k + 1]
        tint = colors[self.label_map_]
        out = cv2.addWeighted(frame, 1 - alpha, tint, alpha, 0)
        void = self.label_map_ == 0
        out[void] = frame[void]
        return out


Result = InstanceResult | SemanticResult | PanopticResult
