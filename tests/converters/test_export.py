"""Real conversions of the tiny models to every format, FP32 and INT8, with the parity report."""

import json

import numpy as np
import pytest

import edgeseg
from edgeseg.convert.cli import main as export_main
from edgeseg.convert.export import DropTooLarge, ExportOptions, export
from edgeseg.convert.files import ConversionError
from edgeseg.convert.source import Source
from edgeseg.errors import InputError
from tests import tiny_models

pytestmark = pytest.mark.slow


def tiny_source(kind: str) -> Source:
    ref = tiny_models.torch_reference(kind)
    spec = tiny_models.make_spec(ref)
    return Source(module=ref.module, task=spec.task, decoder=spec.decoder, outputs=spec.outputs,
                  class_names=spec.class_names, input_hw=spec.input.size_hw, num_mask_coeffs=spec.num_mask_coeffs,
                  name=f"tiny-{kind}")


def semantic_source() -> Source:
    return tiny_source("semantic")


def _frames(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (90, 130, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("kind", ["semantic", "instance-split", "instance-concat"])
def test_every_format_fp32_and_int8_with_report(kind, tmp_path):
    rows = export(tiny_source(kind), tmp_path, ExportOptions(formats=("onnx", "openvino", "tflite"), int8=True,
                                                             calib=_frames(40), progress=False))
    stem = f"tiny-{kind}"
    for name in (f"{stem}.onnx", f"{stem}.xml", f"{stem}.bin", f"{stem}.tflite", f"{stem}.int8.onnx",
                 f"{stem}.int8.xml", f"{stem}.int8.tflite", "report.json"):
        assert (tmp_path / name).is_file(), name
    assert not list(tmp_path.glob("*.partial*"))
    doc = json.loads((tmp_path / "report.json").read_text())
    assert [(r["format"], r["precision"]) for r in doc["rows"]] == [
        ("onnx", "fp32"), ("openvino", "fp32"), ("tflite", "fp32"), ("onnx", "int8"), ("openvino", "int8"),
        ("tflite", "int8")]
    key = "miou" if kind == "semantic" else "mask_ap50"
    for r in doc["rows"]:
        assert {"format", "precision", "path", "size_bytes", "latency_ms", key, "drop"} <= set(r)
        assert r["size_bytes"] > 0 and r["latency_ms"] > 0
        if r["precision"] == "fp32":
            assert r[key] >= 0.99 and r["drop"] is None
        else:
            assert r["drop"] is not None
    if kind != "semantic":
        assert all(r["count_agreement"] == 1.0 for r in doc["rows"] if r["precision"] == "fp32")
        assert all(r["mean_mask_iou"] >= 0.99 for r in doc["rows"] if r["precision"] == "fp32")
    # The INT8 files carry what was done to them.
    with edgeseg.load(tmp_path / f"{stem}.int8.onnx") as seg:
        q = seg.spec.quantization
        assert q.precision.value == "int8" and q.calibration_images == 32 and q.float_nodes
    assert len(rows) == 6


def test_folded_preprocessing_and_argmax_match_the_plain_export(tmp_path):
    src = semantic_source()
    frame = _frames(1, seed=3)[0]
    export(src, tmp_path / "plain", ExportOptions(progress=False))
    export(src, tmp_path / "folded", ExportOptions(fold_preprocess=True, progress=False))
    export(src, tmp_path / "argmax", ExportOptions(fold_preprocess=True, fold_argmax=True, progress=False))
    with edgeseg.load(tmp_path / "plain" / "tiny-semantic.onnx") as a, \
            edgeseg.load(tmp_path / "folded" / "tiny-semantic.onnx") as b, \
            edgeseg.load(tmp_path / "argmax" / "tiny-semantic.onnx") as c:
        assert b.spec.input.dtype.value == "uint8" and b.spec.input.layout.value == "NHWC"
        assert b.spec.input.normalization is None and c.spec.decoder.value == "class-map"
        assert np.mean(a(frame).class_map == b(frame).class_map) >= 0.999
        logits = a.infer(frame)[0]["logits"]
        class_map = c.infer(frame)[0]["logits"]
    assert class_map.dtype == np.uint8
    assert np.mean(class_map == logits.argmax(1)) >= 0.999


def test_max_drop_turns_into_a_failure_with_the_report(tmp_path):
    with pytest.raises(DropTooLarge, match="beyond --max-drop -1"):
        export(semantic_source(), tmp_path, ExportOptions(formats=("onnx",), int8=True, calib=_frames(20),
                                                          max_drop=-1.0, progress=False))
    assert (tmp_path / "report.json").is_file()


def test_bad_requests(tmp_path):
    src = semantic_source()
    with pytest.raises(InputError, match="unknown formats \\['coreml'\\]"):
        export(src, tmp_path, ExportOptions(formats=("coreml",)))
    with pytest.raises(InputError, match="INT8 needs calibration"):
        export(src, tmp_path, ExportOptions(int8=True))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        export(src, tmp_path, ExportOptions(int8=True, calib=tmp_path / "empty"))
    with pytest.warns(UserWarning, match="only 5 images"):
        export(src, tmp_path / "few", ExportOptions(int8=True, calib=_frames(5), progress=False))
    with pytest.raises(InputError, match="expected a torch.nn.Module"):
        src.with_(module=object())


def test_failure_names_the_step_and_leaves_no_final_file(tmp_path):
    import torch

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    with pytest.raises(ConversionError, match="ONNX export \\(torch.onnx.export\\) failed: RuntimeError: boom"):
        export(semantic_source().with_(module=Broken()), tmp_path, ExportOptions())
    assert not (tmp_path / "tiny-semantic.onnx").exists()


def test_cli_export_from_an_import_path(tmp_path, capsys):
    rc = export_main(["tests.converters.test_export:semantic_source", "--formats", "onnx,openvino",
                      "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    assert "tiny-semantic.onnx" in capsys.readouterr().out
    assert export_main(["no.such.module:thing", "--out", str(tmp_path)]) == 2
    assert "cannot import" in capsys.readouterr().err


def instance_source() -> Source:
    return tiny_source("instance-split")


def test_cli_box_extent_overrides_the_source(tmp_path, capsys):
    from edgeseg.spec import BoxExtent
    from edgeseg.spec_io import read_spec

    assert export_main(["tests.converters.test_export:instance_source", "--box-extent", "whole",
                        "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    assert read_spec(tmp_path / "whole" / "tiny-instance-split.onnx").box_extent == BoxExtent.WHOLE
    assert export_main(["tests.converters.test_export:instance_source", "--out", str(tmp_path / "as-declared"),
                        "--quiet"]) == 0
    assert read_spec(tmp_path / "as-declared" / "tiny-instance-split.onnx").box_extent == BoxExtent.VISIBLE
    capsys.readouterr()
    assert export_main(["tests.converters.test_export:semantic_source", "--box-extent", "whole",
                        "--out", str(tmp_path / "sem"), "--quiet"]) == 2
    assert "a semantic model has no boxes" in capsys.readouterr().err
    ready = tmp_path / "whole" / "tiny-instance-split.onnx"
    assert export_main([str(ready), "--box-extent", "visible", "--out", str(tmp_path / "again"), "--quiet"]) == 2
    assert "ready ONNX file" in capsys.readouterr().err


def test_ready_onnx_file_as_source(tmp_path):
    export(semantic_source(), tmp_path / "first", ExportOptions(progress=False))
    onnx_file = tmp_path / "first" / "tiny-semantic.onnx"
    rows = export(onnx_file, tmp_path / "second", ExportOptions(formats=("onnx", "openvino"), int8=True,
                                                                calib=_frames(20), progress=False))
    assert [(r.format, r.precision) for r in rows] == [("onnx", "fp32"), ("openvino", "fp32"), ("onnx", "int8"),
                                                       ("openvino", "int8")]
    assert rows[0].metrics["miou"] == 1.0  # the reference is this very file on onnxruntime
    doc = json.loads((tmp_path / "second" / "report.json").read_text())
    assert doc["reference"] == "the FP32 ONNX file on onnxruntime"
    with pytest.raises(InputError, match="TFLite is made from the PyTorch model"):
        export(onnx_file, tmp_path / "third", ExportOptions(formats=("tflite",)))
    with pytest.raises(InputError, match="expected an edgeseg.convert.Source or an existing .onnx"):
        export(tmp_path / "missing.onnx", tmp_path / "third")
