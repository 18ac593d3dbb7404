import re
import sys

import numpy as np
import pytest

from edgeseg.backends import BackendOptions, PerformanceHint, open_backend
from edgeseg.backends.ov import check_device
from edgeseg.errors import BackendError, MissingExtraError, ModelLoadError
from edgeseg.spec import SPEC_KEY
from tests import tiny_models

ov = pytest.importorskip("openvino")


@pytest.mark.parametrize("fmt", ["openvino", "onnx"])
def test_outputs_match_pytorch(tiny_model, fmt):
    backend = open_backend(getattr(tiny_model, fmt), "openvino")
    tiny_models.assert_matches_torch(backend.run({"images": tiny_model.ref.example}), tiny_model.ref)


def test_tensor_info(tiny_instance_concat):
    backend = open_backend(tiny_instance_concat.openvino)
    assert (backend.name, backend.device) == ("openvino", "CPU")
    assert [(t.name, t.shape, t.dtype) for t in backend.inputs] == [("images", (1, 3, 64, 64), np.dtype(np.float32))]
    assert [(t.name, t.shape) for t in backend.outputs] == [("output0", (1, 10, 64)), ("protos", (1, 4, 16, 16))]


@pytest.mark.parametrize("fmt", ["openvino", "onnx"])
def test_metadata_carries_the_spec_from_ir_and_from_onnx(tiny_semantic, fmt):
    # .xml: rt_info[SPEC_KEY]; .onnx: metadata_props, which OpenVINO files under rt_info["framework"].
    meta = open_backend(getattr(tiny_semantic, fmt), "openvino").metadata()
    assert '"mask-logits"' in meta[SPEC_KEY]


def test_results_are_not_overwritten_by_the_next_run(tiny_semantic):
    # The infer request is reused; the arrays handed out must be the caller's own.
    backend = open_backend(tiny_semantic.openvino)
    x = tiny_semantic.ref.example
    first = backend.run({"images": x})["logits"]
    kept = first.copy()
    backend.run({"images": np.ascontiguousarray(x[:, ::-1])})
    np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize("options", [
    BackendOptions(device="cpu", threads=1),
    BackendOptions(device="CPU", performance_hint=PerformanceHint.THROUGHPUT, threads=2),
    BackendOptions(device="AUTO:CPU"),
])
def test_options(tiny_semantic, options):
    backend = open_backend(tiny_semantic.openvino, options=options)
    expected = tiny_models.run_torch(tiny_semantic.ref)["logits"]
    np.testing.assert_allclose(backend.run({"images": tiny_semantic.ref.example})["logits"], expected, **tiny_models.FP32_TOL)


def test_unavailable_device_is_refused_with_the_available_list(tiny_semantic):
    available = ov.Core().available_devices
    with pytest.raises(BackendError, match=rf"device 'FPGA' not available.*available: {re.escape(repr(available))}"):
        open_backend(tiny_semantic.openvino, options=BackendOptions(device="FPGA"))


@pytest.mark.parametrize("device, available, ok", [
    ("CPU", ["CPU"], True),
    ("gpu", ["CPU", "GPU.0", "GPU.1"], True),
    ("GPU.1", ["CPU", "GPU.0", "GPU.1"], True),
    ("GPU.2", ["CPU", "GPU.0", "GPU.1"], False),
    ("NPU", ["CPU"], False),
    ("AUTO", ["CPU"], True),
    ("AUTO:GPU,CPU", ["CPU"], False),
    ("HETERO:CPU", ["CPU"], True),
])
def test_check_device(device, available, ok):
    if ok:
        assert check_device(device, available) == device.upper()
    else:
        with pytest.raises(BackendError, match="not available"):
            check_device(device, available)


def test_missing_and_corrupt_files(tmp_path, tiny_semantic):
    bad = tmp_path / "garbage.xml"
    bad.write_bytes(b"<net><<< not xml" * 20)
    with pytest.raises(ModelLoadError, match="garbage.xml"):
        open_backend(bad)
    lonely = tmp_path / "no_weights.xml"  # an IR whose .bin is missing
    lonely.write_bytes(tiny_semantic.openvino.read_bytes())
    with pytest.raises(ModelLoadError, match="no_weights.xml"):
        open_backend(lonely)


def test_wrong_input_shape(tiny_semantic):
    backend = open_backend(tiny_semantic.openvino)
    with pytest.raises(BackendError, match=r"expected 'images' 1×3×64×96 float32, got shape \(1, 64, 96, 3\)"):
        backend.run({"images": tiny_semantic.ref.example.transpose(0, 2, 3, 1)})


def test_missing_runtime_names_the_extra(tiny_semantic, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'edgeseg\[openvino\]'"):
        open_backend(tiny_semantic.openvino)
