"""Frame → model input tensor, plus the exact `Transform` back to frame coordinates.

Coordinates are continuous: pixel (i, j) covers [j, j+1) × [i, i+1) and its centre is (j+0.5, i+0.5).
A frame point (x, y) lands at (x * sx + pad_x, y * sy + pad_y) in model input pixels; the inverse is
exact because the scales are the ratios of the integer sizes actually used for the resize.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeseg.errors import InputError
from edgeseg.spec import ColorOrder, InputSpec, Layout, ResizeMode


@dataclass(frozen=True)
class Transform:
    """Maps between frame pixels and model-input pixels.

    frame_hw: (H, W) of the original frame.  input_hw: (H, W) of the model input.
    scale_xy: model pixels per frame pixel along x and y.  pad_xy: left and top padding in model pixels.
    """

    frame_hw: tuple[int, int]
    input_hw: tuple[int, int]
    scale_xy: tuple[float, float]
    pad_xy: tuple[int, int]

    @property
    def content_hw(self) -> tuple[int, int]:
        """Size of the resized frame inside the model input (excluding padding)."""
        return (round(self.frame_hw[0] * self.scale_xy[1]), round(self.frame_hw[1] * self.scale_xy[0]))

    def to_frame_xy(self, xy: np.ndarray) -> np.ndarray:
        """xy (..., 2) float model-input coordinates → frame coordinates (float64)."""
        xy = np.asarray(xy, dtype=np.float64)
        return (xy - self.pad_xy) / self.scale_xy

    def to_model_xy(self, xy: np.ndarray) -> np.ndarray:
        """xy (..., 2) float frame coordinates → model-input coordinates (float64)."""
        xy = np.asarray(xy, dtype=np.float64)
        return xy * self.scale_xy + self.pad_xy

    def to_frame_xyxy(self, xyxy: np.ndarray, *, clip: bool = True) -> np.ndarray:
        """xyxy (N, 4) model-input boxes → frame boxes (N, 4) float32, clipped to the frame by default."""
        xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        sx, sy = self.scale_xy
        px, py = self.pad_xy
        out = np.empty_like(xyxy)
        out[:, 0::2] = (xyxy[:, 0::2] - px) / sx
        out[:, 1::2] = (xyxy[:, 1::2] - py) / sy
        if clip:
            h, w = self.frame_hw
            np.clip(out[:, 0::2], 0, w, out=out[:, 0::2])
            np.clip(out[:, 1::2], 0, h, out=out[:, 1::2])
        return out.astype(np.float32)

    def to_model_xyxy(self, xyxy: np.ndarray) -> np.ndarray:
        """xyxy (N, 4) frame boxes → model-input boxes (N, 4) float64."""
        xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        out = np.empty_like(xyxy)
        out[:, 0::2] = xyxy[:, 0::2] * self.scale_xy[0] + self.pad_xy[0]
        out[:, 1::2] = xyxy[:, 1::2] * self.scale_xy[1] + self.pad_xy[1]
        return out


def make_transform(frame_hw: tuple[int, int], input_hw: tuple[int, int], resize: ResizeMode) -> Transform:
    """The transform `preprocess` applies to a frame of `frame_hw` for a model input of `input_hw`."""
    h, w = frame_hw
    ih, iw = input_hw
    if resize == ResizeMode.STRETCH:
        return Transform((h, w), (ih, iw), (iw / w, ih / h), (0, 0))
    s = min(ih / h, iw / w)
    new_w = min(iw, max(1, round(w * s)))
    new_h = min(ih, max(1, round(h * s)))
    return Transform((h, w), (ih, iw), (new_w / w, new_h / h), ((iw - new_w) // 2, (ih - new_h) // 2))


def check_frame(frame: object) -> np.ndarray:
    """Return `frame` as an H×W×3 uint8 array, converting grayscale (H×W, H×W×1) and dropping alpha (H×W×4).

    Anything else (floats, other channel counts, empty frames) is refused with an `InputError`.
    """
    if not isinstance(frame, np.ndarray):
        raise InputError(f"expected an H×W×3 uint8 numpy image, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise InputError(f"expected an H×W×3 uint8 image, got shape {frame.shape} {frame.dtype} "
                         "(convert with np.clip(x, 0, 255).astype(np.uint8) if it holds 0..255 values)")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        if frame.size == 0:
            raise InputError(f"expected a non-empty image, got shape {frame.shape}")
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR)  # grayscale: converted
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise InputError(f"expected an H×W×3 uint8 image, got shape {frame.shape} {frame.dtype}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError(f"expected a non-empty image, got shape {frame.shape}")
    if frame.shape[2] == 4:
        return np.ascontiguousarray(frame[:, :, :3])  # alpha dropped; colour order kept
    return frame


def resize_frame(frame: np.ndarray, t: Transform, pad_value: int) -> np.ndarray:
    """The frame resized (and letterboxed) to the model input: (ih, iw, 3) uint8."""
    ch, cw = t.content_hw
    ih, iw = t.input_hw
    interp = cv2.INTER_AREA if cw < frame.shape[1] and ch < frame.shape[0] else cv2.INTER_LINEAR
    img = frame if (ch, cw) == frame.shape[:2] else cv2.resize(frame, (cw, ch), interpolation=interp)
    px, py = t.pad_xy
    if (ch, cw) != (ih, iw):
        img = cv2.copyMakeBorder(img, py, ih - ch - py, px, iw - cw - px, cv2.BORDER_CONSTANT,
                                 value=(pad_value, pad_value, pad_value))
    return img


def preprocess(frame: np.ndarray, spec: InputSpec, *, frame_color: ColorOrder = ColorOrder.BGR
               ) -> tuple[np.ndarray, Transform]:
    """frame (H, W, 3) uint8 → (tensor with a batch axis, Transform).

    The tensor is float32 normalized per `spec.normalization`, or raw uint8 pixels when the model folds
    normalization into its graph (`normalization is None`). Quantized (int8/uint8) model inputs receive the
    float tensor; the backend quantizes it with the input tensor's own scale and zero point.
    """
    frame = check_frame(frame)
    t = make_transform(frame.shape[:2], spec.size_hw, spec.resize)
    img = resize_frame(frame, t, spec.pad_value)
    swap = frame_color != spec.color
    norm = spec.normalization
    if norm is None:
        if swap:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        tensor = img.transpose(2, 0, 1) if spec.layout == Layout.NCHW else img
        return np.ascontiguousarray(tensor[None]), t
    std = np.asarray(norm.std, dtype=np.float32)
    mean_px = np.asarray(norm.mean, dtype=np.float32) / np.float32(norm.scale)
    if spec.layout == Layout.NCHW:
        # blobFromImage does swap, (x - mean) * factor and HWC→NCHW in one pass of C++.
        uniform = bool(np.all(std == std[0]))
        blob = cv2.dnn.blobFromImage(img, scalefactor=float(norm.scale / std[0]) if uniform else norm.scale,
                                     mean=tuple(float(m) for m in mean_px), swapRB=swap, crop=False)
        # With swapRB, OpenCV subtracts `mean` after the swap, so it is given in the model's order.
        if not uniform:
            blob *= (1.0 / std)[None, :, None, None]
        return blob, t
    if swap:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    tensor = img.astype(np.float32)
    tensor -= mean_px
    tensor *= np.float32(norm.scale) / std
    return tensor[None], t
