"""Reading the inputs `edgeseg run` accepts: image files, folders of images, and videos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from edgeseg.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


@dataclass(frozen=True)
class Source:
    path: Path
    kind: str  # "image" or "video"


def collect_sources(inputs: list[str | Path]) -> list[Source]:
    """Expand files and folders into images and videos, in a stable order. Unknown inputs are an error."""
    out: list[Source] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            if not files:
                raise InputError(f"{p}: folder holds no images or videos ({sorted(IMAGE_SUFFIXES)})")
            out.extend(Source(f, "video" if f.suffix.lower() in VIDEO_SUFFIXES else "image") for f in files)
        elif p.is_file():
            suffix = p.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                out.append(Source(p, "image"))
            elif suffix in VIDEO_SUFFIXES:
                out.append(Source(p, "video"))
            else:
                raise InputError(f"{p}: not an image or video file (suffix {suffix!r})")
        else:
            raise InputError(f"{p}: no such file or folder")
    return out


def read_image(path: Path) -> np.ndarray:
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise InputError(f"{path}: cannot read this image (corrupt or unsupported)")
    return frame


def video_frames(path: Path) -> tuple[int, float, Iterator[np.ndarray]]:
    """(frame count or 0 if unknown, fps, iterator of BGR frames)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: cannot open this video")
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame
        finally:
            cap.release()

    return count, fps, frames()
