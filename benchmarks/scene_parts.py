"""Parts for the factory-line scenes: hex nuts, washers and capsules, with their shading and defects.

A part is drawn once, in a square local canvas centred on it, as a boolean shape mask and a BGR float32
appearance with its defects baked in. A scene pastes it at an integer position, so a part riding the belt
looks the same in every frame and its ground truth is exact: the mask is the part, pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

CLASS_NAMES = ("hex_nut", "washer", "capsule")
HEX_NUT, WASHER, CAPSULE = range(3)

# Semantic ids of the two defect kinds (the scene's SEMANTIC_CLASSES are belt, part, scratch, spot).
SCRATCH, SPOT = 2, 3
DEFECT_NAMES = {SCRATCH: "scratch", SPOT: "spot"}

# Shape area / r² (r = circumradius or half length), averaged over the classes at their mean proportions:
# hex nut with hole ≈ 1.95, washer ≈ 2.36, capsule ≈ 1.6. Turns a target coverage into a part radius.
AREA_PER_R2 = 2.0

# BGR base colours. Metals: bright steel, bluish zinc plating, brass. Capsules: saturated shell colours.
_METALS = np.array([[172, 172, 168], [190, 178, 160], [70, 158, 190], [150, 150, 150]], np.float32)
_SHELLS = np.array([[40, 40, 205], [40, 200, 235], [190, 95, 30], [70, 175, 60], [232, 232, 228],
                    [30, 125, 240], [150, 60, 125], [200, 160, 90]], np.float32)
_SPOT_BGR = np.array([22, 32, 46], np.float32)  # dark rust / oil

_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(half: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) float32 pixel offsets from the canvas centre, each (2·half + 1)²; cached per size."""
    g = _GRIDS.get(half)
    if g is None:
        v, u = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
        u.flags.writeable = False
        v.flags.writeable = False
        g = _GRIDS[half] = (u, v)
    return g


@dataclass(eq=False)
class PartSprite:
    """One part in its local canvas. mask (S, S) bool with S = 2·half + 1, the part's centre at (half, half);
    appearance (S, S, 3) float32 BGR, defects included (None until `paint`); defect_masks: one (S, S) bool per
    defect, each inside `mask`, in paint order (a later defect covers an earlier one); defect_class: their
    semantic ids (SCRATCH, SPOT)."""

    class_id: int
    radius: float
    angle: float
    inner: float  # hole radius / radius (nut, washer) or half-width / radius (capsule)
    mask: np.ndarray
    appearance: np.ndarray | None = None
    defect_masks: list[np.ndarray] = field(default_factory=list)
    defect_class: list[int] = field(default_factory=list)
    area: int = 0

    @property
    def half(self) -> int:
        return self.mask.shape[0] // 2


def sample_shape(class_id: int, radius: float, rng: np.random.Generator) -> PartSprite:
    """A part of `class_id` whose circumradius (half length for capsules) is `radius` px, at a random angle."""
    half = int(math.ceil(radius)) + 1
    u, v = _grid(half)
    angle = float(rng.uniform(0, 2 * math.pi))
    rho2 = u * u + v * v
    if class_id == HEX_NUT:
        inner = float(rng.uniform(0.42, 0.5))
        apothem = radius * math.sqrt(3) / 2
        mask = rho2 > (inner * radius) ** 2
        for k in range(3):
            a = angle + math.pi / 6 + k * math.pi / 3
            mask &= np.abs(u * math.cos(a) + v * math.sin(a)) <= apothem
    elif class_id == WASHER:
        inner = float(rng.uniform(0.42, 0.55))
        mask = (rho2 <= radius * radius) & (rho2 >= (inner * radius) ** 2)
    elif class_id == CAPSULE:
        inner = float(rng.uniform(0.36, 0.46))
        d = _capsule_distance(u, v, radius, inner * radius, angle)
        mask = d <= inner * radius
    else:
        raise ValueError(f"unknown part class {class_id}")
    return PartSprite(class_id, float(radius), angle, inner, mask, area=int(np.count_nonzero(mask)))


def _capsule_distance(u: np.ndarray, v: np.ndarray, radius: float, half_width: float, angle: float) -> np.ndarray:
    s = u * math.cos(angle) + v * math.sin(angle)
    t = -u * math.sin(angle) + v * math.cos(angle)
    return np.hypot(np.maximum(np.abs(s) - (radius - half_width), 0), t)


def paint(sp: PartSprite, rng: np.random.Generator, light_xy: tuple[float, float], defect_rate: float) -> None:
    """Fill `sp.appearance` (shading lit from `light_xy`, a unit image-plane vector toward the lamp) and draw
    its defects: with probability `defect_rate` the part gets one defect (two, three times in ten)."""
    if sp.class_id == CAPSULE:
        sp.appearance = _paint_capsule(sp, rng, light_xy)
    else:
        sp.appearance = _paint_metal(sp, rng, light_xy)
    if rng.random() < defect_rate:
        for _ in range(2 if rng.random() < 0.3 else 1):
            _add_defect(sp, rng, SCRATCH if rng.random() < 0.5 else SPOT)


def _paint_metal(sp: PartSprite, rng: np.random.Generator, light_xy: tuple[float, float]) -> np.ndarray:
    u, v = _grid(sp.half)
    r = sp.radius
    lx, ly = light_xy
    rho = np.sqrt(u * u + v * v) + 1e-6
    facing = (u * lx + v * ly) / rho  # cos of the angle between the outward direction and the lamp
    shade = 0.84 + 0.16 * (u * lx + v * ly) / r
    bevel = max(1.2, 0.1 * r)
    hole = sp.inner * r
    if sp.class_id == HEX_NUT:
        # The chamfer: the corners outside the chamfer circle tilt toward or away from the lamp.
        edge = rho > 0.9 * r * math.sqrt(3) / 2
        # Machining rings are faint on a nut face.
        rings = 1.0 + 0.025 * np.sin(rho * 1.7)
    else:
        edge = rho > r - bevel
        rings = 1.0 + 0.05 * np.sin(rho * 2.3)
    shade = np.where(edge, shade * (0.78 + 0.3 * facing), shade)
    # The hole's wall faces the centre, so the side away from the lamp is lit.
    shade = np.where(rho < hole + bevel, shade * (0.72 - 0.25 * facing), shade) * rings
    # One brightness factor and a slight tint: per-channel jitter any larger turns steel pink or green.
    tint = 1.0 + rng.uniform(-0.03, 0.03, 3)
    base = (_METALS[rng.integers(len(_METALS))] * (rng.uniform(0.85, 1.1) * tint)).astype(np.float32)
    hx, hy = 0.35 * r * lx, 0.35 * r * ly
    highlight = 70.0 * np.exp(-((u - hx) ** 2 + (v - hy) ** 2) / (2 * (0.22 * r) ** 2))
    grain = rng.normal(0.0, 0.025, shade.shape).astype(np.float32)
    return (base * (shade + grain)[..., None] + highlight[..., None]).astype(np.float32)


def _paint_capsule(sp: PartSprite, rng: np.random.Generator, light_xy: tuple[float, float]) -> np.ndarray:
    u, v = _grid(sp.half)
    r, a = sp.radius, sp.angle
    hw = sp.inner * r
    e = r - hw
    s = u * math.cos(a) + v * math.sin(a)
    t = -u * math.sin(a) + v * math.cos(a)
    # Surface normal of a capsule (a cylinder with two half spheres), viewed from above.
    ns = (s - np.clip(s, -e, e)) / hw
    nt = t / hw
    nz = np.sqrt(np.maximum(0.0, 1.0 - ns * ns - nt * nt))
    nx = ns * math.cos(a) - nt * math.sin(a)
    ny = ns * math.sin(a) + nt * math.cos(a)
    lx, ly = light_xy
    lamp = np.array([0.55 * lx, 0.55 * ly, 0.83], np.float32)
    lamp /= np.linalg.norm(lamp)
    half_vec = lamp + np.array([0, 0, 1], np.float32)
    half_vec /= np.linalg.norm(half_vec)
    lambert = np.maximum(0.0, nx * lamp[0] + ny * lamp[1] + nz * lamp[2])
    spec = np.maximum(0.0, nx * half_vec[0] + ny * half_vec[1] + nz * half_vec[2]) ** 40
    i, j = rng.integers(len(_SHELLS), size=2)
    if rng.random() < 0.3:
        j = i  # one-colour (gel) capsule
    seam = float(rng.uniform(-0.15, 0.15)) * r
    body = np.where((s < seam)[..., None], _SHELLS[i], _SHELLS[j])
    shade = 0.32 + 0.75 * lambert
    shade = np.where(np.abs(s - seam) < 0.6, shade * 0.7, shade)
    return (body * shade[..., None] + (150.0 * spec)[..., None]).astype(np.float32)


def _add_defect(sp: PartSprite, rng: np.random.Generator, kind: int) -> None:
    """Draw one defect inside the part's shape; a try that leaves fewer than 3 pixels on the part is redrawn."""
    ys, xs = np.nonzero(sp.mask)
    size = sp.mask.shape[0]
    r = sp.radius
    for _ in range(6):
        k = rng.integers(len(xs))
        x, y = int(xs[k]), int(ys[k])
        canvas = np.zeros((size, size), np.uint8)
        if kind == SCRATCH:
            a = rng.uniform(0, 2 * math.pi)
            length = r * rng.uniform(0.5, 1.3)
            end = (int(round(x + length * math.cos(a))), int(round(y + length * math.sin(a))))
            thick = 2 if r > 30 and rng.random() < 0.4 else 1
            cv2.line(canvas, (x, y), end, 1, thick, cv2.LINE_8)
        else:
            rs = float(np.clip(0.14 * r, 1.5, 7.0) * rng.uniform(0.7, 1.3))
            axes = (max(1, round(rs)), max(1, round(rs * rng.uniform(0.6, 1.0))))
            cv2.ellipse(canvas, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1, cv2.LINE_8)
        m = canvas.view(bool) & sp.mask
        if np.count_nonzero(m) >= 3:
            break
    else:
        return
    assert sp.appearance is not None
    if kind == SCRATCH:
        sp.appearance[m] *= float(rng.uniform(0.42, 0.6))
    else:
        sp.appearance[m] = _SPOT_BGR * rng.uniform(0.8, 1.2)
    sp.defect_masks.append(m)
    sp.defect_class.append(kind)
