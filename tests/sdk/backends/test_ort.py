import sys

import numpy as np
import pytest

from edgeseg.backends import Backend, BackendOptions, open_backend
from edgeseg.backends.ort import PROVIDER_ALIASES
from edgeseg.errors import BackendError, MissingExtraError, ModelLoadError
from edgeseg.spec import SPEC_KEY
from tests import tiny_models

ort = pytest.importorskip("onnxruntime")


def test_outputs_match_pytorch(tiny_model):
    backend = open_backend(tiny_model.onnx)
    assert isinstance(backend, Backend)
    tiny_models.assert_matches_torch(backend.run({"images": tiny_model.ref.example}), tiny_model.ref)


def test_tensor_info_and_metadata(tiny_instance_split):
    backend = open_backend(tiny_instance_split.onnx)
    assert backend.name == "onnxruntime"
    assert backend.device == "CPUExecutionProvider"
    assert [(t.name, t.shape, t.dtype, t.quant) for t in backend.inputs] == [
        ("images", (1, 3, 64, 64), np.dtype(np.float32), None)]
    assert [(t.name, t.shape) for t in backend.outputs] == [
        ("boxes", (1, 64, 4)), ("scores", (1, 64, 2)), ("coefficients", (1, 64, 4)), ("protos", (1, 4, 16, 16))]
    assert '"yolo-seg"' in backend.metadata()[SPEC_KEY]


@pytest.mark.parametrize("options", [
    BackendOptions(device="cpu"),
    BackendOptions(device="CPUExecutionProvider"),
    BackendOptions(providers=("CPUExecutionProvider",), threads=1),
    BackendOptions(device="CPU", threads=2),
])
def test_cpu_spellings_and_threads(tiny_semantic, options):
    backend = open_backend(tiny_semantic.onnx, options=options)
    assert backend.device == "CPUExecutionProvider"
    expected = tiny_models.run_torch(tiny_semantic.ref)["logits"]
    np.testing.assert_allclose(backend.run({"images": tiny_semantic.ref.example})["logits"], expected, **tiny_models.FP32_TOL)


def test_unavailable_provider_is_refused_with_the_available_list(tiny_semantic):
    available = ort.get_available_providers()
    absent = next(alias for alias, name in PROVIDER_ALIASES.items() if name not in available)
    with pytest.raises(BackendError, match=rf"{PROVIDER_ALIASES[absent]}.*not available.*CPUExecutionProvider"):
        open_backend(tiny_semantic.onnx, options=BackendOptions(device=absent))
    with pytest.raises(BackendError, match=r"'NoSuchExecutionProvider'.*available: \["):
        open_backend(tiny_semantic.onnx, options=BackendOptions(providers=("cpu", "NoSuchExecutionProvider")))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        open_backend(tmp_path / "absent.onnx")
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"\x08\x07not a protobuf" * 50)
    with pytest.raises(ModelLoadError, match="garbage.onnx"):
        open_backend(bad)


def test_wrong_inputs_say_expected_and_got(tiny_semantic):
    backend = open_backend(tiny_semantic.onnx)
    x = tiny_semantic.ref.example
    with pytest.raises(BackendError, match=r"expected 'images' 1×3×64×96 float32, got shape \(1, 3, 64, 64\) float32"):
        backend.run({"images": x[:, :, :, :64]})
    with pytest.raises(BackendError, match=r"expected 'images' 1×3×64×96 float32, got shape \(1, 3, 64, 96\) float64"):
        backend.run({"images": x.astype(np.float64)})
    with pytest.raises(BackendError, match=r"expected inputs \['images'\], got \['input'\]"):
        backend.run({"input": x})
    with pytest.raises(BackendError, match="expected a numpy array, got list"):
        backend.run({"images": x.tolist()})


def test_closed_backend_refuses_to_run(tiny_semantic):
    backend = open_backend(tiny_semantic.onnx)
    backend.close()
    with pytest.raises(BackendError, match="closed"):
        backend.run({"images": tiny_semantic.ref.example})


def test_missing_runtime_names_the_extra(tiny_semantic, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(MissingExtraError, match=r"pip install 'edgeseg\[onnx\]'"):
        open_backend(tiny_semantic.onnx)
