import sys

import numpy as np
import pytest

from edgeseg.backends import BackendOptions, open_backend
from edgeseg.backends.tflite import read_metadata
from edgeseg.errors import BackendError, MissingExtraError, ModelLoadError
from edgeseg.spec import SPEC_KEY
from tests import tiny_models

pytest.importorskip("ai_edge_litert")


def test_outputs_match_pytorch(tiny_model):
    backend = open_backend(tiny_model.tflite)
    tiny_models.assert_matches_torch(backend.run({"images": tiny_model.ref.example}), tiny_model.ref)


def test_signature_names_and_shapes(tiny_instance_split):
    backend = open_backend(tiny_instance_split.tflite)
    assert (backend.name, backend.device) == ("tflite", "CPU+XNNPACK")
    assert [(t.name, t.shape, t.dtype, t.quant) for t in backend.inputs] == [
        ("images", (1, 3, 64, 64), np.dtype(np.float32), None)]
    assert {t.name: t.shape for t in backend.outputs} == {
        "boxes": (1, 64, 4), "scores": (1, 64, 2), "coefficients": (1, 64, 4), "protos": (1, 4, 16, 16)}


def test_metadata_reader_agrees_with_the_schema(tiny_semantic):
    from ai_edge_litert import schema_py_generated as fb

    data = tiny_semantic.tflite.read_bytes()
    model = fb.Model.GetRootAs(data, 0)
    names = {model.Metadata(i).Name().decode() for i in range(model.MetadataLength())}
    meta = read_metadata(tiny_semantic.tflite)
    assert SPEC_KEY in meta and set(meta) <= names
    entry = next(model.Metadata(i) for i in range(model.MetadataLength())
                 if model.Metadata(i).Name().decode() == SPEC_KEY)
    assert meta[SPEC_KEY] == model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode()
    assert open_backend(tiny_semantic.tflite).metadata() == meta


@pytest.mark.parametrize("options", [
    BackendOptions(xnnpack=False),
    BackendOptions(threads=2),
    BackendOptions(device="cpu", threads=1, xnnpack=True),
])
def test_options(tiny_instance_concat, options):
    backend = open_backend(tiny_instance_concat.tflite, options=options)
    assert backend.device == ("CPU+XNNPACK" if options.xnnpack else "CPU")
    out = backend.run({"images": tiny_instance_concat.ref.example})
    expected = tiny_models.run_torch(tiny_instance_concat.ref)
    for name in expected:
        np.testing.assert_allclose(out[name], expected[name], **tiny_models.FP32_TOL, err_msg=name)


# ai-edge-litert's Delegate.__del__ trips over the half-built object a failed load leaves behind.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_devices_and_delegates_that_are_not_there(tiny_semantic, tmp_path):
    with pytest.raises(BackendError, match=r"got device 'gpu'; available: \['cpu'\]"):
        open_backend(tiny_semantic.tflite, options=BackendOptions(device="gpu"))
    with pytest.raises(BackendError, match="delegate library .*nope.so not found"):
        open_backend(tiny_semantic.tflite, options=BackendOptions(delegate=str(tmp_path / "nope.so")))
    fake = tmp_path / "fake_delegate.so"
    fake.write_bytes(b"not a shared library")
    with pytest.raises(BackendError, match="could not load delegate .*fake_delegate.so"):
        open_backend(tiny_semantic.tflite, options=BackendOptions(delegate=str(fake)))


# INT8 (ai-edge-quantizer static_wi8_ai8, int8 input and output) against the FP32 .tflite. Logits of this
# tiny random net span only ~0.15 (output scale 6.9e-4). Measured: example input max abs error 0.003
# (~4 steps); 20 held-out inputs max 0.015, argmax agreement min 98.4 %, mean 99.2 %.
INT8_EXAMPLE_ATOL = 0.006
INT8_HELD_OUT_ATOL = 0.03
INT8_MIN_ARGMAX_AGREEMENT = 0.95


def test_int8_quantizes_float_input_and_dequantizes_output(tiny_semantic):
    int8 = open_backend(tiny_semantic.tflite_int8)
    fp32 = open_backend(tiny_semantic.tflite)
    (inp,), (out,) = int8.inputs, int8.outputs
    assert inp.dtype == np.int8 and inp.quant is not None
    assert out.dtype == np.int8 and out.quant is not None
    x = tiny_semantic.ref.example
    got = int8.run({"images": x})["logits"]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, fp32.run({"images": x})["logits"], atol=INT8_EXAMPLE_ATOL, rtol=0)

    rng = np.random.default_rng(123)
    for _ in range(8):
        x = rng.random(x.shape, dtype=np.float32)
        a, b = fp32.run({"images": x})["logits"], int8.run({"images": x})["logits"]
        assert np.abs(a - b).max() <= INT8_HELD_OUT_ATOL
        assert (a.argmax(1) == b.argmax(1)).mean() >= INT8_MIN_ARGMAX_AGREEMENT


def test_int8_accepts_an_already_quantized_tensor(tiny_semantic):
    backend = open_backend(tiny_semantic.tflite_int8)
    scale, zero_point = backend.inputs[0].quant
    x = tiny_semantic.ref.example
    q = np.clip(np.rint(x / scale) + zero_point, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(backend.run({"images": q})["logits"], backend.run({"images": x})["logits"])


def test_uint8_pixels_for_a_float_input_are_refused(tiny_semantic):
    backend = open_backend(tiny_semantic.tflite)
    pixels = (tiny_semantic.ref.example * 255).astype(np.uint8)
    with pytest.raises(BackendError, match=r"'images' is float32 \(normalized floats\), got uint8 pixels"):
        backend.run({"images": pixels})


def test_wrong_input_shape(tiny_semantic):
    for path in (tiny_semantic.tflite, tiny_semantic.tflite_int8):
        backend = open_backend(path)
        with pytest.raises(BackendError, match=r"expected 'images' 1×3×64×96 .*got shape \(1, 3, 96, 64\)"):
            backend.run({"images": np.zeros((1, 3, 96, 64), np.float32)})


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        open_backend(tmp_path / "absent.tflite")
    bad = tmp_path / "garbage.tflite"
    bad.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ModelLoadError, match="garbage.tflite"):
        open_backend(bad)
    assert read_metadata(bad) == {}


def test_missing_runtime_names_the_extra(tiny_semantic, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'edgeseg\[tflite\]'"):
        open_backend(tiny_semantic.tflite)
