"""The bench harness's arithmetic and outputs on tiny real models (not its timings)."""

import csv
import json

import cv2
import numpy as np
import pytest

from edgeseg.bench import cli as bench_cli
from edgeseg.bench.harness import BenchOptions, Planter, run_bench
from edgeseg.segmenter import load

FAST = dict(min_time_s=0.0, min_repeats=3, warmup=1, frames_per_count=2, frame_wh=(160, 120))


def test_planted_counts_come_back(tiny_instance_split, tiny_instance_concat):
    for model in (tiny_instance_split, tiny_instance_concat):
        with load(model.onnx) as seg:
            report = run_bench(seg, BenchOptions(objects=(0, 1, 7, 30), mode="planted", output=True, **FAST),
                               progress=False)
        assert report["mode"] == "planted"
        for row in report["rows"]:
            assert row["detected"] == row["objects"]
            stages = row["preprocess_ms"] + row["inference_ms"] + row["decode_ms"] + row["output_ms"]
            assert row["repeats"] >= 3 and row["fps"] > 0 and stages > 0
            assert row["total_p90_ms"] >= row["total_median_ms"]
            assert row["rss_peak_mb"] >= row["rss_steady_mb"] > 0


def test_planter_keeps_the_model_layout(tiny_instance_split):
    with load(tiny_instance_split.onnx) as seg:
        raw, _ = seg.infer(np.zeros((120, 160, 3), np.uint8))
        planted, t = Planter(seg.spec, raw, (120, 160), 0).raw_with(5)
    assert {k: v.shape for k, v in planted.items()} == {k: v.shape for k, v in raw.items()}
    assert t.frame_hw == (120, 160)


def test_semantic_model_in_scene_mode(tiny_semantic):
    with load(tiny_semantic.onnx) as seg:
        report = run_bench(seg, BenchOptions(objects=(0, 5), **FAST), progress=False)
    assert report["mode"] == "scenes"  # a semantic model runs on the scenes' frames
    assert [r["detected"] for r in report["rows"]] == [None, None]


def test_cli_writes_json_csv_png_and_compares(tiny_instance_split, tmp_path, capsys):
    args = [str(tiny_instance_split.onnx), "--objects", "0,1,10", "--frame", "160x120", "--mode", "planted",
            "--min-time", "0", "--repeats", "3", "--warmup", "1", "--quiet"]
    assert bench_cli.main(args + ["--out", str(tmp_path / "a")]) == 0
    assert bench_cli.main(args + ["--out", str(tmp_path / "b"), "--backends", "onnxruntime,openvino,tflite"]) == 0
    tfl = json.loads((tmp_path / "b" / "tflite" / "bench.json").read_text())
    assert tfl["model"]["backend"] == "tflite" and tfl["model"]["path"].endswith(".tflite")  # the sibling file
    doc = json.loads((tmp_path / "a" / "bench.json").read_text())
    assert doc["mode"] == "planted" and [r["objects"] for r in doc["rows"]] == [0, 1, 10]
    assert {"cpu", "cores", "os", "python", "backends"} <= set(doc["device"])
    assert {"name", "precision", "backend", "file_sha256", "threads", "decode"} <= set(doc["model"])
    assert doc["model"]["decode"]["conf"] > 0  # the instance options the rows were decoded with
    with open(tmp_path / "a" / "bench.csv") as f:
        assert [int(r["objects"]) for r in csv.DictReader(f)] == [0, 1, 10]
    png = cv2.imread(str(tmp_path / "a" / "bench.png"))
    assert png is not None and png.shape[1] > 500
    assert (tmp_path / "b" / "openvino" / "bench.json").is_file()
    capsys.readouterr()
    assert bench_cli.main(["compare", str(tmp_path / "a" / "bench.json"),
                           str(tmp_path / "b" / "openvino" / "bench.json")]) == 0
    out = capsys.readouterr().out
    assert "[1]/[0]" in out and out.count("x") >= 3


def test_images_mode_bins_by_detected_count(tiny_instance_split, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((120, 160, 3), 40 * i, np.uint8))
    with load(tiny_instance_split.onnx) as seg:
        report = run_bench(seg, BenchOptions(objects=(0, 5), mode="images", images=str(folder), **FAST),
                           progress=False)
    assert report["mode"] == "images"
    assert sum(r["images"] for r in report["rows"]) == 3
    assert report["rows"][-1]["objects"] == 5  # the tiny model always finds its 5 planted anchors


def test_bad_requests(tiny_semantic, capsys):
    assert bench_cli.main(["compare", "only-one.json"]) == 2
    assert "two or more" in capsys.readouterr().err
    with load(tiny_semantic.onnx) as seg:
        with pytest.raises(Exception, match="planted mode supports yolo-seg"):
            run_bench(seg, BenchOptions(objects=(1,), mode="planted", **FAST), progress=False)
