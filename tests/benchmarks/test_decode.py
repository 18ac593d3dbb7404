import json

from edgeseg.bench import decode as bench_decode
from edgeseg.bench.planted import anchor_count, plant_yolo_seg


def test_planted_outputs_have_the_model_layout():
    p = plant_yolo_seg(7, frame_hw=(720, 1280), input_hw=(640, 640), nc=3, nm=32)
    assert p.predictions.shape == (1, 4 + 3 + 32, anchor_count((640, 640))) == (1, 39, 8400)
    assert p.protos.shape == (1, 32, 160, 160)
    assert len(p.boxes_xyxy) == 7 and len(set(p.anchors.tolist())) == 7
    split = p.split(3)
    assert split["boxes"].shape == (1, 8400, 4) and split["coefficients"].shape == (1, 8400, 32)


def test_benchmark_json_and_counts(tmp_path, capsys):
    out = tmp_path / "decode.json"
    rc = bench_decode.main(["--objects", "0,1,12", "--frame", "640x480", "--input", "320", "--min-time", "0.01",
                            "--json", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert [r["objects"] for r in doc["rows"]] == [0, 1, 12]
    for row in doc["rows"]:
        assert set(row) >= {"objects", "median_ms", "p90_ms", "instances"}
        assert row["instances"] == row["objects"]
        assert 0 < row["median_ms"] <= row["p90_ms"]
    assert doc["device"]["cores"] >= 1 and "backends" in doc["device"]
    assert "objects" in capsys.readouterr().out


def test_bad_arguments_exit_with_usage(capsys):
    import pytest

    with pytest.raises(SystemExit):
        bench_decode.main(["--frame", "1280by720"])
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
