import importlib

import numpy as np
import pytest

from edgeseg.backends import (
    BACKENDS,
    SUFFIX_DEFAULT,
    Backend,
    BackendOptions,
    backend_for,
    open_backend,
    require,
)
from edgeseg.errors import BackendError, MissingExtraError, ModelLoadError
from tests import tiny_models


@pytest.mark.parametrize("suffix, name", sorted(SUFFIX_DEFAULT.items()))
def test_suffix_picks_its_default_backend(suffix, name):
    assert backend_for(f"model{suffix}").name == name
    assert backend_for(f"MODEL{suffix.upper()}").name == name


def test_explicit_backend_and_refusals():
    assert backend_for("m.onnx", "openvino").module == "edgeseg.backends.ov"
    with pytest.raises(ModelLoadError, match=r"unknown model format '.pt'; expected one of \['.onnx'"):
        backend_for("m.pt")
    with pytest.raises(BackendError, match=r"unknown backend 'tensorrt'; expected one of"):
        backend_for("m.onnx", "tensorrt")
    with pytest.raises(BackendError, match=r"backend 'tflite' cannot read '.onnx' files"):
        backend_for("m.onnx", "tflite")


@pytest.mark.parametrize("entry", BACKENDS.values(), ids=list(BACKENDS))
def test_each_table_entry_imports_and_has_open(entry):
    pytest.importorskip(entry.package)
    assert callable(importlib.import_module(entry.module).open)


def test_require_names_the_extra():
    with pytest.raises(MissingExtraError, match=r"no_such_runtime is not installed; run: pip install 'edgeseg\[tflite\]'"):
        require("no_such_runtime", "tflite")


def test_missing_file_is_a_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="absent.xml: model file not found"):
        open_backend(tmp_path / "absent.xml")


def _all_backends(model):
    yield "onnxruntime", open_backend(model.onnx)
    yield "openvino(.onnx)", open_backend(model.onnx, "openvino")
    yield "openvino(.xml)", open_backend(model.openvino)
    yield "tflite", open_backend(model.tflite, options=BackendOptions(threads=1))


def test_every_format_agrees_with_the_others_and_pytorch(tiny_model):
    expected = tiny_models.run_torch(tiny_model.ref)
    x = tiny_model.ref.example
    results = {}
    for label, backend in _all_backends(tiny_model):
        assert isinstance(backend, Backend)
        assert [t.name for t in backend.inputs] == ["images"]
        assert {t.name for t in backend.outputs} == set(expected), label
        results[label] = backend.run({"images": x})
        backend.close()
    first = results.pop("onnxruntime")
    for label, out in results.items():
        for name in expected:
            np.testing.assert_allclose(out[name], first[name], **tiny_models.FP32_TOL, err_msg=f"{label} {name}")
    for name in expected:
        np.testing.assert_allclose(first[name], expected[name], **tiny_models.FP32_TOL, err_msg=f"pytorch {name}")


def test_instance_fixture_has_confident_detections(tiny_instance_concat, tiny_instance_split):
    # The fixture's point: a decoder at conf 0.25 must find instances (the planted anchors).
    concat = open_backend(tiny_instance_concat.onnx).run({"images": tiny_instance_concat.ref.example})
    split = open_backend(tiny_instance_split.onnx).run({"images": tiny_instance_split.ref.example})
    nc = len(tiny_models.INSTANCE_CLASSES)
    concat_scores = concat["output0"][0, 4:4 + nc].T  # (A, nc)
    np.testing.assert_allclose(concat_scores, split["scores"][0], atol=1e-6)
    confident = np.flatnonzero(concat_scores.max(1) >= 0.25)
    assert sorted((int(a), int(concat_scores[a].argmax())) for a in confident) == sorted(tiny_models.CONFIDENT_ANCHORS)
