"""Procedural factory-line scenes with exact ground truth: parts on a conveyor belt.

    edgeseg scenes --count 50 --objects 5-40 --seed 0 --out scenes/ [--size 1280x720] [--sequence]
    python -m edgeseg.bench.scenes ...   (the same command)

A frame is a textured belt under a lamp (a brightness gradient and vignette), parts with drop shadows, and
sensor noise. Parts are hex nuts, washers and capsules at random pose, scale and colour; some touch, some
lie on top of others (the later part hides the earlier), some are cut by the frame border, some carry a
scratch or a spot. The ground truth is what the image shows: each instance mask is the part's visible
pixels, a defect is the part of it that is visible, and the semantic map agrees with both to the pixel.

Placement is rejection sampling on an owner map, so a frame holds exactly the number of parts asked for,
every one at least `min_visible_px` pixels and `min_visible_fraction` of its whole shape visible (parts
that would be hidden more are never drawn). Part size follows the count: the mean radius is chosen so the
parts cover `coverage` of the frame, so 300 parts are small and 3 are large. Same options and seed give
byte-identical images.

A sequence is one long belt that moves `speed_px` pixels a frame in +x: parts enter at the left and leave
at the right, keeping their instance ids. There, `objects` is the density (parts per frame width) and a
frame's ground truth holds every part with at least one visible pixel, slivers at the edges included.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist

import cv2
import numpy as np

from edgeseg.cli.commands import command_parser, positive_int, run
from edgeseg.bench.cli_args import parse_size_wh
from edgeseg.bench.scene_parts import AREA_PER_R2, CLASS_NAMES, DEFECT_NAMES, PartSprite, paint, sample_shape
from edgeseg.errors import EdgeSegError, InputError
from edgeseg.masks import CropMasks, crop_from_rle

__all__ = ["CLASS_NAMES", "SEMANTIC_CLASSES", "DEFECT_NAMES", "SceneOptions", "SceneTruth", "Scene",
           "SceneDataset", "make_scene", "make_scenes", "make_sequence", "write_dataset", "load_dataset",
           "build_parser", "cmd_scenes", "main"]

SEMANTIC_CLASSES = ("belt", "part", "scratch", "spot")
BELT, PART = 0, 1

MIN_RADIUS = 5.0  # px; below this a nut's hole and a capsule's caps stop being shapes
MAX_RADIUS_FRACTION = 0.11  # of min(W, H): even one part stays a part, not a close-up
MAX_COVERAGE = 0.5  # parts at MIN_RADIUS may cover at most this share of a frame; more is refused
TRIES_PER_SHAPE = 12
SHRINK_EVERY = 25  # failed shapes before the remaining parts get 7 % smaller
MAX_FAILED_SHAPES = 20_000


@dataclass(frozen=True, kw_only=True)
class SceneOptions:
    """What a scene holds. size_wh: frame (W, H) px; objects: parts per frame (N); defect_rate: share of
    parts with a defect; overlap_rate: share of parts laid on top of an earlier part; touch_rate: share laid
    against one; coverage: target share of the frame the parts cover (sets their size); noise_sigma: sensor
    noise in grey levels; min_visible_px / min_visible_fraction: the least of a part that must show."""

    size_wh: tuple[int, int] = (1280, 720)
    objects: int = 20
    defect_rate: float = 0.15
    overlap_rate: float = 0.15
    touch_rate: float = 0.2
    coverage: float = 0.4
    noise_sigma: float = 2.5
    min_visible_px: int = 20
    min_visible_fraction: float = 0.4

    def __post_init__(self) -> None:
        w, h = self.size_wh
        if int(w) != w or int(h) != h or w < 8 or h < 8:
            raise InputError(f"size_wh: expected integer (W, H) of at least 8 px, got {self.size_wh}")
        object.__setattr__(self, "size_wh", (int(w), int(h)))
        if int(self.objects) != self.objects or self.objects < 0:
            raise InputError(f"objects: expected a count ≥ 0, got {self.objects!r}")
        for name in ("defect_rate", "overlap_rate", "touch_rate", "min_visible_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name}: expected a value in [0, 1], got {value!r}")
        if not 0.0 < self.coverage <= MAX_COVERAGE:
            raise InputError(f"coverage: expected a value in (0, {MAX_COVERAGE}], got {self.coverage!r}")
        if self.noise_sigma < 0 or self.min_visible_px < 1:
            raise InputError(f"expected noise_sigma ≥ 0 and min_visible_px ≥ 1, got {self.noise_sigma!r} and "
                             f"{self.min_visible_px!r}")
        most = max_objects(self.size_wh)
        if self.objects > most:
            raise InputError(f"{self.objects} parts do not fit a {w}x{h} frame: at most {most} at the smallest "
                             f"part size ({MIN_RADIUS:g} px radius)")

    @property
    def frame_hw(self) -> tuple[int, int]:
        return self.size_wh[1], self.size_wh[0]

    def part_radius(self) -> float:
        """Mean part radius (px) for `objects` parts to cover `coverage` of the frame, within the size limits."""
        w, h = self.size_wh
        top = max(MIN_RADIUS, MAX_RADIUS_FRACTION * min(w, h))
        if self.objects == 0:
            return top
        return float(np.clip(math.sqrt(self.coverage * w * h / (self.objects * AREA_PER_R2)), MIN_RADIUS, top))


def max_objects(size_wh: tuple[int, int]) -> int:
    """The most parts a frame of `size_wh` takes (at the smallest part size, MAX_COVERAGE of the frame)."""
    w, h = size_wh
    return int(MAX_COVERAGE * w * h / (AREA_PER_R2 * MIN_RADIUS ** 2))


def _ro(a: np.ndarray, dtype, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.array(a, dtype=dtype)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        raise InputError(f"{name}: expected shape (N{''.join(f', {s}' for s in shape_tail)}), got {arr.shape}")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class SceneTruth:
    """Exact ground truth of one frame: N visible part instances and D visible defects.

    masks: CropMasks, tight crops of each instance's visible pixels, frame_hw (H, W).
    class_id: (N,) int32 index into CLASS_NAMES.  instance_id: (N,) int64, ≥ 1, stable along a sequence.
    xyxy: (N, 4) float32 tight pixel bounds [x0, y0, x1, y1) of the visible mask (= masks.origins_xyxy).
    visible_fraction: (N,) float32 share of the whole part that shows (occlusion and frame border).
    amodal_xyxy: (N, 4) float32 tight pixel bounds of the whole part, hidden and cut-off pixels included (it may
    reach past the frame); `xyxy` where not given (a data set written without it).
    semantic: (H, W) uint8 index into SEMANTIC_CLASSES (0 belt, 1 part, 2 scratch, 3 spot).
    defect_masks: CropMasks of the D defects' visible pixels.  defect_class: (D,) uint8 semantic id
    (2 scratch, 3 spot).  defect_instance: (D,) int32 row (0..N-1) of the instance the defect lies on.
    """

    masks: CropMasks
    class_id: np.ndarray
    instance_id: np.ndarray
    xyxy: np.ndarray
    visible_fraction: np.ndarray
    semantic: np.ndarray
    defect_masks: CropMasks
    defect_class: np.ndarray
    defect_instance: np.ndarray
    amodal_xyxy: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.amodal_xyxy is None:
            object.__setattr__(self, "amodal_xyxy", self.xyxy)
        for name, dtype, tail in (("class_id", np.int32, ()), ("instance_id", np.int64, ()),
                                  ("xyxy", np.float32, (4,)), ("visible_fraction", np.float32, ()),
                                  ("amodal_xyxy", np.float32, (4,)),
                                  ("defect_class", np.uint8, ()), ("defect_instance", np.int32, ())):
            object.__setattr__(self, name, _ro(getattr(self, name), dtype, tail, name))
        n, d = len(self.masks), len(self.defect_masks)
        lengths = [len(self.class_id), len(self.instance_id), len(self.xyxy), len(self.visible_fraction),
                   len(self.amodal_xyxy)]
        if lengths != [n] * 5 or len(self.defect_class) != d or len(self.defect_instance) != d:
            raise InputError(f"parallel arrays differ in length: masks {n}, class_id/instance_id/xyxy/"
                             f"visible_fraction/amodal_xyxy {lengths}, defect_masks {d}, defect_class "
                             f"{len(self.defect_class)}, defect_instance {len(self.defect_instance)}")
        hw = self.masks.frame_hw
        if self.semantic.shape != hw or self.semantic.dtype != np.uint8 or self.defect_masks.frame_hw != hw:
            raise InputError(f"expected an {hw} uint8 semantic map and defect masks for that frame, got "
                             f"{self.semantic.shape} {self.semantic.dtype} and {self.defect_masks.frame_hw}")
        if d and (self.defect_instance.min() < 0 or self.defect_instance.max() >= n):
            raise InputError(f"defect_instance: expected rows in [0, {n}), got {self.defect_instance.tolist()}")
        if self.semantic.flags.writeable:
            sem = self.semantic.copy()
            sem.flags.writeable = False
            object.__setattr__(self, "semantic", sem)

    @property
    def frame_hw(self) -> tuple[int, int]:
        return self.masks.frame_hw

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def areas(self) -> np.ndarray:
        """(N,) int64 visible pixels of each instance."""
        return self.masks.areas

    @property
    def defect_areas(self) -> np.ndarray:
        """(D,) int64 visible pixels of each defect."""
        return self.defect_masks.areas

    def counts(self) -> dict[str, int]:
        """Instances per class name, every class listed."""
        n = np.bincount(self.class_id, minlength=len(CLASS_NAMES))
        return {name: int(k) for name, k in zip(CLASS_NAMES, n)}

    def defects_of(self, i: int) -> np.ndarray:
        """Indices (into the defect arrays) of the defects on instance row `i`."""
        return np.flatnonzero(self.defect_instance == i)

    def instance_defects(self) -> list[list[dict]]:
        """Per instance, its defects as {"kind", "area", "xyxy"} dicts."""
        out: list[list[dict]] = [[] for _ in range(len(self))]
        for j, i in enumerate(self.defect_instance.tolist()):
            out[i].append({"kind": DEFECT_NAMES[int(self.defect_class[j])], "area": int(self.defect_areas[j]),
                           "xyxy": self.defect_masks.origins_xyxy[j].tolist()})
        return out

    def to_coco(self, image_id: int, first_annotation_id: int = 1) -> list[dict]:
        """COCO annotations (uncompressed RLE, bbox xywh, category id = class id + 1) plus "instance_id",
        "visible_fraction", "amodal_bbox" (the whole part's xywh, hidden and cut-off pixels included) and
        "defects" (each {"kind", "area", "bbox", "segmentation"})."""
        defects = [[] for _ in range(len(self))]
        for j, i in enumerate(self.defect_instance.tolist()):
            defects[i].append({"kind": DEFECT_NAMES[int(self.defect_class[j])], "area": int(self.defect_areas[j]),
                               "bbox": _xywh(self.defect_masks.origins_xyxy[j]),
                               "segmentation": self.defect_masks.rle(j)})
        return [{"id": first_annotation_id + i, "image_id": image_id, "category_id": int(self.class_id[i]) + 1,
                 "segmentation": self.masks.rle(i), "area": int(self.areas[i]),
                 "bbox": _xywh(self.masks.origins_xyxy[i]), "iscrowd": 0,
                 "instance_id": int(self.instance_id[i]),
                 "visible_fraction": round(float(self.visible_fraction[i]), 4),
                 "amodal_bbox": _xywh(self.amodal_xyxy[i]), "defects": defects[i]}
                for i in range(len(self))]


def _xywh(xyxy: np.ndarray) -> list[int]:
    x0, y0, x1, y1 = (int(v) for v in xyxy)
    return [x0, y0, x1 - x0, y1 - y0]


@dataclass(frozen=True, eq=False)
class Scene:
    """One frame: image (H, W, 3) uint8 BGR, its truth, and its index when it is part of a sequence."""

    image: np.ndarray
    truth: SceneTruth
    frame_index: int | None = None


# ---------------------------------------------------------------------------------------------------- placement


@dataclass(eq=False)
class _Placed:
    sprite: PartSprite
    x0: int  # world position of the sprite canvas's top-left pixel
    y0: int
    instance_id: int


def _place(opts: SceneOptions, rng: np.random.Generator, world_wh: tuple[int, int], n: int) -> list[_Placed]:
    """Rejection-sample `n` parts into a world of `world_wh`, each visible enough after every later part."""
    ww, wh = world_wh
    owner = np.full((wh, ww), -1, np.int32)
    visible = np.zeros(n, np.int64)
    need = np.zeros(n, np.int64)  # the fewest pixels each placed part must keep
    placed: list[_Placed] = []
    centres = np.zeros((n, 2), np.float64)
    radii = np.zeros(n, np.float64)
    r_mean = opts.part_radius()
    shrink, failed = 1.0, 0

    def fits(sp: PartSprite, cx: int, cy: int, overlap: bool) -> bool:
        h = sp.half
        x0, y0 = cx - h, cy - h
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + 2 * h + 1, ww), min(y0 + 2 * h + 1, wh)
        if fx0 >= fx1 or fy0 >= fy1:
            return False
        m = sp.mask[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        inside = int(np.count_nonzero(m))
        own_need = max(opts.min_visible_px, math.ceil(opts.min_visible_fraction * sp.area))
        if inside < own_need:
            return False
        win = owner[fy0:fy1, fx0:fx1]
        under = win[m]
        under = under[under >= 0]
        if under.size:
            if not overlap:
                return False
            ids, cnt = np.unique(under, return_counts=True)
            if np.any(visible[ids] - cnt < need[ids]):
                return False
            visible[ids] -= cnt
        k = len(placed)
        win[m] = k
        visible[k], need[k] = inside, own_need
        centres[k], radii[k] = (cx, cy), sp.radius
        placed.append(_Placed(sp, x0, y0, k + 1))
        return True

    while len(placed) < n:
        k = len(placed)
        radius = max(MIN_RADIUS, r_mean * shrink * float(rng.uniform(0.8, 1.2)))
        sp = sample_shape(int(rng.integers(len(CLASS_NAMES))), radius, rng)
        mode = rng.random()
        ok = False
        if k and mode < opts.overlap_rate:
            t = int(rng.integers(k))
            for _ in range(TRIES_PER_SHAPE):
                a, f = rng.uniform(0, 2 * math.pi), rng.uniform(0.45, 0.9)
                d = f * (radii[t] + radius)
                cx, cy = centres[t] + d * np.array([math.cos(a), math.sin(a)])
                if ok := fits(sp, int(round(cx)), int(round(cy)), True):
                    break
        elif k and mode < opts.overlap_rate + opts.touch_rate:
            # Walk outward from a neighbour until the part no longer overlaps it: the first fit touches.
            t = int(rng.integers(k))
            a = rng.uniform(0, 2 * math.pi)
            for f in np.linspace(0.7, 1.3, TRIES_PER_SHAPE):
                d = f * (radii[t] + radius)
                cx, cy = centres[t] + d * np.array([math.cos(a), math.sin(a)])
                if ok := fits(sp, int(round(cx)), int(round(cy)), False):
                    break
        else:
            for _ in range(TRIES_PER_SHAPE):
                cx = rng.uniform(-0.5 * radius, ww + 0.5 * radius)
                cy = rng.uniform(-0.5 * radius, wh + 0.5 * radius)
                if ok := fits(sp, int(math.floor(cx)), int(math.floor(cy)), False):
                    break
        if not ok:
            failed += 1
            if failed % SHRINK_EVERY == 0:
                shrink *= 0.93
            if failed > MAX_FAILED_SHAPES:
                raise EdgeSegError(f"could place only {k} of {n} parts in a {ww}x{wh} belt; ask for fewer")
    return placed


# ---------------------------------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Look:
    """What stays fixed for a scene or sequence: the belt texture (one period T = W along x) and the lamp."""

    belt: np.ndarray  # (H, T, 3) float32 BGR, periodic in x
    light: np.ndarray  # (H, W) float32 brightness factor
    light_xy: tuple[float, float]  # unit vector toward the lamp
    shadow_dxy: tuple[int, int]
    noise_sigma: float


def _make_look(opts: SceneOptions, rng: np.random.Generator) -> _Look:
    w, h = opts.size_wh
    period = w
    x = np.arange(period, dtype=np.float64)
    y = np.arange(h, dtype=np.float64)
    # Grain (blurred along y only, so the texture stays periodic in x), plus a sum of separable terms:
    # lengthwise wear streaks, a weave whose period divides T, and broad mottling from whole-period
    # sinusoids. Then one splice across the belt.
    tex = cv2.blur(_gaussian_noise(rng, (h, period), 5.0), (1, 3))
    streaks = np.convolve(rng.normal(0, 1, h + 8), np.ones(9) / 3, mode="valid")[:h] * 3.0
    weave_cycles = max(1, round(period / rng.uniform(3.5, 5.0)))
    rows = [streaks, 3.0 * np.sin(2 * np.pi * y / 3.0)]
    cols = [np.ones(period), np.sin(2 * np.pi * weave_cycles * x / period)]
    for _ in range(4):
        kx, ky = int(rng.integers(1, 7)), rng.uniform(0.5, 4) / h
        px, py = rng.uniform(0, 2 * np.pi, 2)
        rows.append(2.5 * np.cos(2 * np.pi * ky * y + py))
        cols.append(np.sin(2 * np.pi * kx * x / period + px))
    for r, c in zip(rows, cols):  # outer products, not a matmul: BLAS is slow at rank 6 (16 ms vs 8)
        tex += np.multiply.outer(r.astype(np.float32), c.astype(np.float32))
    splice = int(rng.integers(period))
    tex[:, max(0, splice - 1):splice + 2] -= 14.0
    rubber = np.array([[62, 66, 60], [58, 92, 56], [78, 70, 62]], np.float32)[rng.integers(3)]
    rubber *= np.float32(rng.uniform(0.9, 1.1))
    belt = cv2.merge([tex + rubber[0], tex + rubber[1], tex + rubber[2]])

    theta = float(rng.uniform(0, 2 * np.pi))
    lx, ly = math.cos(theta), math.sin(theta)
    diag = math.hypot(w, h)
    xs = np.arange(w, dtype=np.float64) - w / 2
    ys = np.arange(h, dtype=np.float64) - h / 2
    gain, vignette, level = rng.uniform(0.2, 0.45), rng.uniform(0.05, 0.2), rng.uniform(0.9, 1.1)
    # A lamp off to one side: a linear gradient toward it and a vignette, both separable.
    light_y = level + gain * ys * ly / diag - vignette * ys ** 2 / (diag / 2) ** 2
    light_x = gain * xs * lx / diag - vignette * xs ** 2 / (diag / 2) ** 2
    light = light_y.astype(np.float32)[:, None] + light_x.astype(np.float32)[None]
    s = int(np.clip(0.12 * opts.part_radius(), 2, 6))
    return _Look(belt, light, (lx, ly), (int(round(-lx * s)), int(round(-ly * s))), opts.noise_sigma)


def _gaussian_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """float32 N(0, sigma²) noise quantized to 256 levels: random bytes through the normal quantile table.
    A quarter of the cost of `standard_normal` (41 → 10 ms for 1280x720x3), and as good for sensor noise."""
    raw = np.frombuffer(rng.bytes(math.prod(shape)), np.uint8).reshape(shape)
    return cv2.LUT(raw, _NORMAL_QUANTILES * np.float32(sigma))


_NORMAL_QUANTILES = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], np.float32)


def _belt_window(belt: np.ndarray, x0: int, w: int) -> np.ndarray:
    """Columns x0 .. x0 + w of the x-periodic belt texture, as a new (H, w, 3) array."""
    period = belt.shape[1]
    start = x0 % period
    pieces, need = [], w
    while need:
        take = min(need, period - start)
        pieces.append(belt[:, start:start + take])
        need -= take
        start = 0
    return pieces[0].copy() if len(pieces) == 1 else np.concatenate(pieces, axis=1)


def _render(parts: Sequence[_Placed], window_x0: int, frame_wh: tuple[int, int], look: _Look,
            rng: np.random.Generator) -> tuple[np.ndarray, SceneTruth]:
    """Draw the parts (in z order) seen through the frame window starting at world x `window_x0`."""
    w, h = frame_wh
    owner = np.full((h, w), -1, np.int32)
    image = _belt_window(look.belt, window_x0, w)
    clips = []
    for k, p in enumerate(parts):
        size = p.sprite.mask.shape[0]
        x0, y0 = p.x0 - window_x0, p.y0
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + size, w), min(y0 + size, h)
        if fx0 >= fx1 or fy0 >= fy1:
            clips.append(None)
            continue
        local = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
        owner[fy0:fy1, fx0:fx1][p.sprite.mask[local]] = k
        clips.append((fx0, fy0, fx1, fy1, local))

    semantic = (owner >= 0).view(np.uint8).copy()
    crops, origins, cls, ids, frac, whole = [], [], [], [], [], []
    d_crops, d_origins, d_cls, d_inst = [], [], [], []
    for k, (p, clip) in enumerate(zip(parts, clips)):
        if clip is None:
            continue
        fx0, fy0, fx1, fy1, local = clip
        vis = owner[fy0:fy1, fx0:fx1] == k
        rows, colsv = np.flatnonzero(vis.any(1)), np.flatnonzero(vis.any(0))
        if rows.size == 0:
            continue
        sp = p.sprite
        assert sp.appearance is not None
        image[fy0:fy1, fx0:fx1][vis] = sp.appearance[local][vis]
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, colsv[0], colsv[-1] + 1
        row = len(crops)
        crops.append(vis[r0:r1, c0:c1].copy())
        origins.append((fx0 + c0, fy0 + r0, fx0 + c1, fy0 + r1))
        cls.append(sp.class_id)
        ids.append(p.instance_id)
        frac.append(np.count_nonzero(vis) / sp.area)
        sr, sc = np.flatnonzero(sp.mask.any(1)), np.flatnonzero(sp.mask.any(0))
        px0 = p.x0 - window_x0
        whole.append((px0 + sc[0], p.y0 + sr[0], px0 + sc[-1] + 1, p.y0 + sr[-1] + 1))
        # A later defect covers an earlier one: walk them backwards, keeping what is still uncovered.
        taken = np.zeros_like(vis)
        found = []
        for dm, dc in zip(reversed(sp.defect_masks), reversed(sp.defect_class)):
            d = dm[local] & vis
            mine = d & ~taken
            taken |= d
            dr, dcs = np.flatnonzero(mine.any(1)), np.flatnonzero(mine.any(0))
            if dr.size:
                found.append((mine[dr[0]:dr[-1] + 1, dcs[0]:dcs[-1] + 1].copy(),
                              (fx0 + dcs[0], fy0 + dr[0], fx0 + dcs[-1] + 1, fy0 + dr[-1] + 1), dc))
        for crop, (ax0, ay0, ax1, ay1), dc in reversed(found):
            semantic[ay0:ay1, ax0:ax1][crop] = dc
            d_crops.append(crop)
            d_origins.append((ax0, ay0, ax1, ay1))
            d_cls.append(dc)
            d_inst.append(row)

    # Drop shadows fall on the belt, away from the lamp.
    occupied = semantic.astype(np.float32)
    np.minimum(occupied, 1.0, out=occupied)
    dx, dy = look.shadow_dxy
    shadow = np.zeros_like(occupied)
    shadow[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        occupied[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    shadow = cv2.GaussianBlur(shadow, (0, 0), 2.0)
    shadow *= 1.0 - occupied  # only the belt takes a shadow
    shadow *= -0.45
    shadow += 1.0
    shadow *= look.light
    image *= shadow[..., None]
    if look.noise_sigma > 0:
        image += _gaussian_noise(rng, image.shape, look.noise_sigma)
    out = cv2.convertScaleAbs(cv2.max(image, 0.0))  # rounds and saturates at 255

    frame_hw = (h, w)
    origins_a = np.array(origins, np.int32).reshape(-1, 4)
    truth = SceneTruth(
        masks=CropMasks.trusted(crops, origins_a, frame_hw), class_id=np.array(cls, np.int32),
        instance_id=np.array(ids, np.int64), xyxy=origins_a.astype(np.float32),
        visible_fraction=np.array(frac, np.float32), semantic=semantic,
        defect_masks=CropMasks.trusted(d_crops, np.array(d_origins, np.int32).reshape(-1, 4), frame_hw),
        defect_class=np.array(d_cls, np.uint8), defect_instance=np.array(d_inst, np.int32),
        amodal_xyxy=np.array(whole, np.float32).reshape(-1, 4))
    return out, truth


def _scene_from_rng(opts: SceneOptions, rng: np.random.Generator) -> Scene:
    look = _make_look(opts, rng)
    parts = _place(opts, rng, opts.size_wh, opts.objects)
    for p in parts:
        paint(p.sprite, rng, look.light_xy, opts.defect_rate)
    image, truth = _render(parts, 0, opts.size_wh, look, rng)
    return Scene(image, truth)


def make_scene(options: SceneOptions | None = None, *, seed: int | np.random.SeedSequence = 0) -> Scene:
    """One frame with exactly `options.objects` instances in its truth. Same options and seed → same bytes."""
    return _scene_from_rng(options or SceneOptions(), np.random.default_rng(seed))


def make_scenes(count: int, options: SceneOptions | None = None, *, seed: int = 0,
                objects_range: tuple[int, int] | None = None) -> Iterator[Scene]:
    """`count` independent frames. Frame k depends only on (seed, k), not on `count`. With `objects_range`
    (lo, hi) each frame's part count is drawn uniformly from lo..hi inclusive, replacing `options.objects`."""
    opts = options or SceneOptions()
    if count < 0:
        raise InputError(f"count: expected ≥ 0, got {count}")
    if objects_range is not None:
        lo, hi = objects_range
        if not 0 <= lo <= hi:
            raise InputError(f"objects_range: expected 0 ≤ lo ≤ hi, got {objects_range}")
        replace(opts, objects=hi)  # refuses a range the frame cannot hold, before any frame is made
    return _iter_scenes(count, opts, seed, objects_range)


def _iter_scenes(count: int, opts: SceneOptions, seed: int, objects_range: tuple[int, int] | None) -> Iterator[Scene]:
    for child in np.random.SeedSequence(seed).spawn(count):
        rng = np.random.default_rng(child)
        if objects_range is not None:
            opts = replace(opts, objects=int(rng.integers(objects_range[0], objects_range[1] + 1)))
        yield _scene_from_rng(opts, rng)


def make_sequence(num_frames: int, options: SceneOptions | None = None, *, seed: int = 0,
                  speed_px: float = 8.0) -> Iterator[Scene]:
    """`num_frames` frames of a belt moving `speed_px` px a frame in +x, rendered lazily in order.

    The parts lie on one belt of width W + speed·(num_frames - 1) at a density of `options.objects` per frame
    width; each part keeps its instance id from entering (left) to leaving (right), and ids count up with
    the order of the parts' leading (right) edges, that is, in order of arrival.
    Memory: an int32 owner map of the whole belt while placing, and each part's sprite for the run.
    """
    opts = options or SceneOptions()
    if num_frames < 0 or not speed_px >= 0:
        raise InputError(f"expected num_frames ≥ 0 and speed_px ≥ 0, got {num_frames} and {speed_px}")
    return _iter_sequence(num_frames, opts, seed, speed_px)


def _iter_sequence(num_frames: int, opts: SceneOptions, seed: int, speed_px: float) -> Iterator[Scene]:
    if num_frames == 0:
        return
    w, h = opts.size_wh
    travel = int(round(speed_px * (num_frames - 1)))
    rng = np.random.default_rng(seed)
    look = _make_look(opts, rng)
    parts = _place(opts, rng, (w + travel, h), int(round(opts.objects * (w + travel) / w)))
    for p in parts:
        paint(p.sprite, rng, look.light_xy, opts.defect_rate)
    x_lo = np.array([p.x0 for p in parts], np.int64)
    x_hi = x_lo + np.array([p.sprite.mask.shape[1] for p in parts], np.int64)
    for rank, i in enumerate(np.argsort(-x_hi, kind="stable")):  # ids count up in order of arrival
        parts[i].instance_id = rank + 1
    for t in range(num_frames):
        window_x0 = travel - int(round(speed_px * t))
        seen = np.flatnonzero((x_hi > window_x0) & (x_lo < window_x0 + w))
        image, truth = _render([parts[i] for i in seen], window_x0, (w, h), look, rng)
        yield Scene(image, truth, frame_index=t)


# ---------------------------------------------------------------------------------------------------- dataset files


def write_dataset(out_dir: str | Path, scenes: Iterable[Scene], *, info: dict | None = None) -> Path:
    """Write images/NNNNNN.png (BGR), labels/NNNNNN.png (uint8 SEMANTIC_CLASSES index per pixel) and
    annotations.json (COCO: image ids from 0 match the file numbers, category id = class id + 1, uncompressed
    RLE; extra keys per annotation "instance_id", "visible_fraction", "amodal_bbox", "defects"; per image
    "label_file" and "frame_index" for sequences). Frames are written as they arrive. Returns the annotations path."""
    root = Path(out_dir)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    images: list[dict] = []
    annotations: list[dict] = []
    for k, scene in enumerate(scenes):
        name = f"{k:06d}.png"
        h, w = scene.truth.frame_hw
        for path, array in ((root / "images" / name, scene.image), (root / "labels" / name, scene.truth.semantic)):
            if not cv2.imwrite(str(path), array):
                raise EdgeSegError(f"could not write {path}")
        record = {"id": k, "file_name": f"images/{name}", "label_file": f"labels/{name}", "width": w, "height": h}
        if scene.frame_index is not None:
            record["frame_index"] = scene.frame_index
        images.append(record)
        annotations.extend(scene.truth.to_coco(k, len(annotations) + 1))
    doc = {"info": {"description": "edgeseg synthetic factory-line scenes", "version": "1",
                    "generator": "edgeseg.bench.scenes", **(info or {})},
           "images": images,
           "categories": [{"id": c + 1, "name": name, "supercategory": "part"} for c, name in enumerate(CLASS_NAMES)],
           "semantic_classes": list(SEMANTIC_CLASSES),
           "annotations": annotations}
    path = root / "annotations.json"
    path.write_text(json.dumps(doc, separators=(",", ":")))
    return path


class SceneDataset(Sequence[Scene]):
    """A folder written by `write_dataset`. `ds[i]` reads frame i (image and truth) from disk; `truth(i)` reads
    only its truth; `annotations_path` is the COCO file for pycocotools."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.annotations_path = self.root / "annotations.json"
        if not self.annotations_path.is_file():
            raise InputError(f"expected a scenes folder with annotations.json, got {self.root}")
        self.coco = json.loads(self.annotations_path.read_text())
        self.images: list[dict] = self.coco["images"]
        names = [c["name"] for c in sorted(self.coco["categories"], key=lambda c: c["id"])]
        if tuple(names) != CLASS_NAMES:
            raise InputError(f"expected categories {list(CLASS_NAMES)}, got {names}")
        self.class_names = CLASS_NAMES
        self._anns: dict[int, list[dict]] = {im["id"]: [] for im in self.images}
        for a in self.coco["annotations"]:
            self._anns[a["image_id"]].append(a)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return Scene(self.image(i), self.truth(i), self.images[i].get("frame_index"))

    def _read(self, rel: str, flags: int) -> np.ndarray:
        path = self.root / rel
        array = cv2.imread(str(path), flags)
        if array is None:
            raise InputError(f"could not read {path}")
        return array

    def image(self, i: int) -> np.ndarray:
        """Frame i as (H, W, 3) uint8 BGR."""
        return self._read(self.images[i]["file_name"], cv2.IMREAD_COLOR)

    def truth(self, i: int) -> SceneTruth:
        im = self.images[i]
        hw = (int(im["height"]), int(im["width"]))
        semantic = self._read(im["label_file"], cv2.IMREAD_UNCHANGED)
        anns = self._anns[im["id"]]
        boxes = [_bbox_xyxy(a["bbox"]) for a in anns]
        crops = [crop_from_rle(a["segmentation"], b) for a, b in zip(anns, boxes)]
        d_boxes, d_crops, d_cls, d_inst = [], [], [], []
        kinds = {name: c for c, name in DEFECT_NAMES.items()}
        for row, a in enumerate(anns):
            for d in a["defects"]:
                b = _bbox_xyxy(d["bbox"])
                d_boxes.append(b)
                d_crops.append(crop_from_rle(d["segmentation"], b))
                d_cls.append(kinds[d["kind"]])
                d_inst.append(row)
        origins = np.array(boxes, np.int32).reshape(-1, 4)
        return SceneTruth(
            masks=CropMasks(crops, origins, hw), class_id=np.array([a["category_id"] - 1 for a in anns], np.int32),
            instance_id=np.array([a["instance_id"] for a in anns], np.int64), xyxy=origins.astype(np.float32),
            visible_fraction=np.array([a.get("visible_fraction", 1.0) for a in anns], np.float32),
            semantic=semantic,
            defect_masks=CropMasks(d_crops, np.array(d_boxes, np.int32).reshape(-1, 4), hw),
            defect_class=np.array(d_cls, np.uint8), defect_instance=np.array(d_inst, np.int32),
            amodal_xyxy=None if any("amodal_bbox" not in a for a in anns) else
            np.array([_bbox_xyxy(a["amodal_bbox"]) for a in anns], np.float32).reshape(-1, 4))


def _bbox_xyxy(xywh: Sequence[float]) -> tuple[int, int, int, int]:
    x, y, w, h = (int(round(v)) for v in xywh)
    return x, y, x + w, y + h


def load_dataset(path: str | Path) -> SceneDataset:
    """Open a folder written by `write_dataset` (or `edgeseg scenes`)."""
    return SceneDataset(path)


# ---------------------------------------------------------------------------------------------------- command line


def parse_objects(text: str) -> tuple[int, int]:
    """'40' → (40, 40); '5-40' → (5, 40)."""
    try:
        parts = [int(v) for v in text.split("-")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not 0 <= parts[0] <= parts[1]:
        raise argparse.ArgumentTypeError(f"expected a count N or a range A-B with 0 ≤ A ≤ B, got {text!r}")
    return parts[0], parts[1]


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1e6:
        raise argparse.ArgumentTypeError(f"expected pixels per frame ≥ 0, got {text!r}")
    return value


def build_parser(sub: "argparse._SubParsersAction | None" = None) -> argparse.ArgumentParser:
    """The `scenes` command's parser. With `sub` (the `edgeseg` CLI's subparsers) it registers `scenes` there;
    without, it returns a standalone parser. Either way `args.func(args)` runs `cmd_scenes`."""
    text = dict(description="Write synthetic factory-line frames with exact ground truth: images/, labels/ "
                            "(semantic PNGs: 0 belt, 1 part, 2 scratch, 3 spot) and annotations.json (COCO, "
                            "instance masks as RLE, defects per part).")
    p = command_parser(sub, "scenes", "write synthetic factory-line frames with exact ground truth", **text)
    p.add_argument("--count", type=positive_int, required=True, metavar="K", help="frames to write")
    p.add_argument("--objects", type=parse_objects, default=(20, 20), metavar="N|A-B",
                   help="parts per frame, or a range drawn uniformly per frame (default 20); with --sequence, "
                        "parts per frame width")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="random seed (default 0); same arguments, same bytes")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--size", type=parse_size_wh, default=(1280, 720), metavar="WxH",
                   help="frame WIDTHxHEIGHT (default 1280x720)")
    p.add_argument("--defect-rate", type=_rate, default=0.15, metavar="R",
                   help="share of parts with a defect (default 0.15)")
    p.add_argument("--overlap-rate", type=_rate, default=0.15, metavar="R",
                   help="share of parts lying on another (default 0.15)")
    p.add_argument("--sequence", action="store_true",
                   help="one moving-belt sequence of --count frames (stable instance ids) instead of "
                        "independent frames")
    p.add_argument("--speed", type=_speed, default=8.0, metavar="PX",
                   help="belt speed in px per frame for --sequence (default 8)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_scenes)
    return p


def cmd_scenes(args: argparse.Namespace) -> int:
    from edgeseg.cli.progress import Progress

    lo, hi = args.objects
    if args.sequence and lo != hi:
        raise InputError(f"--sequence takes one --objects density, not a range ({lo}-{hi})")
    opts = SceneOptions(size_wh=args.size, objects=hi, defect_rate=args.defect_rate, overlap_rate=args.overlap_rate)
    if args.sequence:
        scenes = make_sequence(args.count, opts, seed=args.seed, speed_px=args.speed)
    else:
        scenes = make_scenes(args.count, opts, seed=args.seed, objects_range=(lo, hi))
    info = {"seed": args.seed, "size_wh": list(args.size), "objects": [lo, hi], "defect_rate": args.defect_rate,
            "overlap_rate": args.overlap_rate, "sequence": args.sequence}
    if args.sequence:
        info["speed_px"] = args.speed
    totals = np.zeros(2, np.int64)

    def counted(it: Iterable[Scene], bar: Progress) -> Iterator[Scene]:
        for scene in it:
            totals[:] += (len(scene.truth), len(scene.truth.defect_class))
            yield scene
            bar.update()

    with Progress(args.count, "frames", enabled=not args.quiet) as bar:
        path = write_dataset(args.out, counted(scenes, bar), info=info)
    print(f"{args.count} frames, {totals[0]} parts, {totals[1]} defects → {path.parent}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
