"""Models shipped with edgeseg, by name: `edgeseg.load("parts-inst")`.

- parts-seg: semantic (background, part, defect) for the factory-line scenes, input 736×1280.
- parts-inst: instance, YOLO-seg split outputs (hex_nut, washer, capsule), input 384×640; its boxes are
  whole-part boxes (hidden pixels included), its masks the visible pixels.

Both were trained on synthetic scenes by examples/train_reference_models.py, which states the recipe.
"""

from __future__ import annotations

from pathlib import Path

from edgeseg.errors import ModelLoadError

_HERE = Path(__file__).resolve().parent
_SUFFIX = ".onnx"


def names() -> list[str]:
    """Names of the shipped models present in this install, sorted."""
    return sorted(p.stem for p in _HERE.glob(f"*{_SUFFIX}"))


def path(name: str) -> Path:
    """The file of the shipped model `name`."""
    p = _HERE / f"{name}{_SUFFIX}"
    if not p.is_file():
        raise ModelLoadError(f"{name!r}: not a shipped model; shipped models are {names()}")
    return p
