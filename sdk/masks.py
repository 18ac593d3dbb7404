"""Compact instance masks: one boolean crop per instance plus where it sits in the frame.

Memory follows the pixels inside the boxes, not N × frame. Full-frame arrays, RLE and polygons are made
on request, one instance at a time.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import cv2
import numpy as np

from edgeseg.errors import InputError

_EMPTY_CROP = np.zeros((0, 0), dtype=bool)
_EMPTY_CROP.flags.writeable = False


def _readonly(a: np.ndarray) -> np.ndarray:
    if a.flags.writeable:
        a.flags.writeable = False
    return a


class CropMasks:
    """N boolean masks stored as crops.

    crops: N arrays (h_i, w_i) bool.  origins_xyxy: (N, 4) int32 pixel bounds [x0, y0, x1, y1) of each crop
    in the frame, with h_i = y1 - y0 and w_i = x1 - x0.  frame_hw: (H, W).
    """

    __slots__ = ("_crops", "_origins", "_frame_hw", "_areas")

    def __init__(self, crops: Sequence[np.ndarray], origins_xyxy: np.ndarray, frame_hw: tuple[int, int]):
        origins = np.asarray(origins_xyxy, dtype=np.int32).reshape(-1, 4)
        if len(crops) != len(origins):
            raise InputError(f"expected one origin per crop, got {len(crops)} crops and {len(origins)} origins")
        h, w = frame_hw
        for i, (c, (x0, y0, x1, y1)) in enumerate(zip(crops, origins)):
            if c.dtype != np.bool_ or c.shape != (y1 - y0, x1 - x0):
                raise InputError(f"crop {i}: expected bool ({y1 - y0}, {x1 - x0}) for origin "
                                 f"{[x0, y0, x1, y1]}, got {c.dtype} {c.shape}")
            if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
                raise InputError(f"crop {i}: origin {[x0, y0, x1, y1]} lies outside the frame {(h, w)}")
        self._crops = tuple(_readonly(c) for c in crops)
        self._origins = _readonly(origins)
        self._frame_hw = (int(h), int(w))
        self._areas: np.ndarray | None = None

    @classmethod
    def trusted(cls, crops: list[np.ndarray], origins_xyxy: np.ndarray, frame_hw: tuple[int, int]) -> "CropMasks":
        """Build without per-crop checks, for decoders whose crops match their origins by construction."""
        self = cls.__new__(cls)
        for c in crops:
            c.flags.writeable = False
        self._crops = tuple(crops)
        self._origins = _readonly(np.asarray(origins_xyxy, dtype=np.int32).reshape(-1, 4))
        self._frame_hw = (int(frame_hw[0]), int(frame_hw[1]))
        self._areas = None
        return self

    @classmethod
    def empty(cls, frame_hw: tuple[int, int]) -> "CropMasks":
        return cls((), np.zeros((0, 4), np.int32), frame_hw)

    @property
    def frame_hw(self) -> tuple[int, int]:
        return self._frame_hw

    @property
    def crops(self) -> tuple[np.ndarray, ...]:
        return self._crops

    @property
    def origins_xyxy(self) -> np.ndarray:
        return self._origins

    @property
    def areas(self) -> np.ndarray:
        """(N,) int64 pixel count of each mask."""
        if self._areas is None:
            self._areas = _readonly(np.array([int(np.count_nonzero(c)) for c in self._crops], dtype=np.int64))
        return self._areas

    def __len__(self) -> int:
        return len(self._crops)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self._crops)

    def __getitem__(self, index: np.ndarray | slice | Sequence[int]) -> "CropMasks":
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return CropMasks.trusted([self._crops[i] for i in idx], self._origins[idx], self._frame_hw)

    def full(self, i: int) -> np.ndarray:
        """Mask `i` pasted into a full (H, W) bool frame."""
        out = np.zeros(self._frame_hw, dtype=bool)
        x0, y0, x1, y1 = self._origins[i]
        out[y0:y1, x0:x1] = self._crops[i]
        return out

    def to_dense(self) -> np.ndarray:
        """All masks as one (N, H, W) bool array. Costs N × H × W bytes: use only when you need it."""
        out = np.zeros((len(self), *self._frame_hw), dtype=bool)
        for i, ((x0, y0, x1, y1), c) in enumerate(zip(self._origins, self._crops)):
            out[i, y0:y1, x0:x1] = c
        return out

    def rle(self, i: int) -> dict:
        """COCO uncompressed RLE of mask `i` over the full frame: {"size": [H, W], "counts": [...]}.

        Column-major runs starting with background, as pycocotools expects. Built from the crop's columns
        only, never the full frame.
        """
        h, w = self._frame_hw
        x0, y0, x1, y1 = (int(v) for v in self._origins[i])
        crop = self._crops[i]
        cols = np.zeros((x1 - x0, h), dtype=bool)
        cols[:, y0:y1] = crop.T
        flat = cols.ravel()
        # Positions where the value changes, in the column-major order of the whole frame.
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        bounds = np.concatenate(([0], change, [flat.size])) + x0 * h
        runs = np.diff(bounds).tolist()
        first_on = bool(flat[0]) if flat.size else False
        counts: list[int] = []
        lead = x0 * h
        if first_on:
            counts.append(lead)
            counts.extend(runs)
        else:
            runs[0] += lead
            counts.extend(runs)
        tail = (w - x1) * h
        if tail:
            if len(counts) % 2 == 1:  # last run is background: extend it
                counts[-1] += tail
            else:
                counts.append(tail)
        return {"size": [h, w], "counts": counts}

    def polygons(self, i: int) -> list[np.ndarray]:
        """Outer contours of mask `i` as (K, 2) int32 arrays of frame (x, y) vertices."""
        crop = self._crops[i]
        if crop.size == 0:
            return []
        contours, _ = cv2.findContours(crop.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        x0, y0 = int(self._origins[i][0]), int(self._origins[i][1])
        return [c.reshape(-1, 2) + np.array([x0, y0], dtype=np.int32) for c in contours]


def lay_down(masks: CropMasks, order: np.ndarray, need: np.ndarray, label: np.ndarray | None = None) -> np.ndarray:
    """Lay masks down one at a time in `order` (indices into `masks`), each onto the pixels no mask kept
    before it took: mask i is kept iff it is not empty and at least need[i] of its pixels are still free,
    and then takes them.

    need: (N,) numbers (pixels).  label: an optional (H, W) integer canvas, 0 where free; kept masks write
    1, 2, ... (in the order kept) on the pixels they take, and pixels already non-zero count as taken.
    Returns (N,) int64: the pixels each kept mask took, -1 for masks dropped or not in `order`.
    """
    taken = np.zeros(masks.frame_hw, bool) if label is None else label
    out = np.full(len(masks), -1, np.int64)
    origins, crops = masks.origins_xyxy, masks.crops
    kept = 0
    for i in np.asarray(order, dtype=np.int64):
        crop = crops[i]
        x0, y0, x1, y1 = origins[i]
        view = taken[y0:y1, x0:x1]
        free = np.greater(crop, view) if label is None else crop & (view == 0)  # in the crop, not yet taken
        n = int(np.count_nonzero(free))
        if n == 0 or n < need[i]:
            continue
        kept += 1
        out[i] = n
        if label is None:
            np.logical_or(view, crop, out=view)
        else:
            view[free] = kept
    return out


def rle_to_mask(rle: dict) -> np.ndarray:
    """Decode an uncompressed COCO RLE back to an (H, W) bool mask (for checks and tools)."""
    h, w = rle["size"]
    flat = np.zeros(h * w, dtype=bool)
    pos = 0
    on = False
    for run in rle["counts"]:
        if on:
            flat[pos:pos + run] = True
        pos += run
        on = not on
    return flat.reshape(w, h).T


def crop_from_rle(rle: dict, xyxy: Sequence[int]) -> np.ndarray:
    """Decode an uncompressed COCO RLE straight into the (y1 - y0, x1 - x0) bool crop at `xyxy`."""
    h = int(rle["size"][0])
    counts = rle["counts"]
    if not isinstance(counts, list):
        raise InputError("expected uncompressed RLE (a list of counts); compressed strings are not read here")
    counts = np.asarray(counts, np.int64)
    x0, y0, x1, y1 = (int(v) for v in xyxy)
    crop = np.zeros((y1 - y0, x1 - x0), bool)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[1::2]
    lens = counts[1::2]
    total = int(lens.sum())
    # Flat column-major index of every foreground pixel, without a loop over runs.
    idx = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens) + np.arange(total)
    col, row = np.divmod(idx, h)
    if total and (col.min() < x0 or col.max() >= x1 or row.min() < y0 or row.max() >= y1):
        raise InputError(f"RLE pixels fall outside their bbox {list(xyxy)}")
    crop[row - y0, col - x0] = True
    return crop
