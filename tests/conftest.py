"""Session fixtures: tiny real models exported to every format (see tests/tiny_models.py).

They are built afresh each session in a temporary folder (no cache to go stale); the whole set took
11-13 s on a 2-core x86 box, two thirds of it litert-torch. Each kind is built on first use, so a run
that needs none pays nothing, and torch is imported only then. The build time is printed in the summary.
"""

from __future__ import annotations

import time

import pytest

_BUILD_SECONDS: dict[str, float] = {}


def _build(kind: str, tmp_path_factory: pytest.TempPathFactory):
    from tests import tiny_models

    start = time.perf_counter()
    model = tiny_models.build(kind, tmp_path_factory.mktemp(kind))
    _BUILD_SECONDS[kind] = time.perf_counter() - start
    return model


@pytest.fixture(scope="session")
def tiny_semantic(tmp_path_factory):
    """TinyModel: 3-class semantic net, images (1,3,64,96) → logits (1,3,16,24); .onnx, .xml, .tflite,
    and an INT8 .tflite (int8 input and output)."""
    return _build("semantic", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_instance_concat(tmp_path_factory):
    """TinyModel: YOLO-seg-like, images (1,3,64,64) → output0 (1,10,64), protos (1,4,16,16)."""
    return _build("instance-concat", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_instance_split(tmp_path_factory):
    """TinyModel: YOLO-seg-like, images (1,3,64,64) → boxes (1,64,4), scores (1,64,2),
    coefficients (1,64,4), protos (1,4,16,16)."""
    return _build("instance-split", tmp_path_factory)


@pytest.fixture(params=["semantic", "instance-concat", "instance-split"])
def tiny_model(request):
    """Each tiny model in turn."""
    return request.getfixturevalue("tiny_" + request.param.replace("-", "_"))


def pytest_terminal_summary(terminalreporter):
    if _BUILD_SECONDS:
        parts = ", ".join(f"{k} {s:.1f} s" for k, s in _BUILD_SECONDS.items())
        terminalreporter.write_line(f"tiny model fixtures built in {sum(_BUILD_SECONDS.values()):.1f} s ({parts})")
