import json

import cv2
import pytest

from edgeseg.cli.main import main


def test_demo_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "2", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "parts per frame" in text and "ms per frame" in text and "defective parts over the clip" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 2 and summary["truth_per_frame"] > 0
    # Parts at the frame's edges showing little of themselves may be found or not; every other part must be.
    assert 0 < summary["truth_sure_per_frame"] <= summary["truth_per_frame"]
    assert summary["frames_count_exact"] <= summary["frames_count_right"] <= 2
    # The same rule, recomputed from the per-frame files: found between the sure parts and all parts in view.
    docs = [json.loads((out / "frames" / f"00{k}.json").read_text()) for k in range(2)]
    right = [d["truth_count_sure"] <= sum(d["counts"].values()) <= d["truth_count"] for d in docs]
    assert summary["frames_count_right"] == sum(right)
    assert summary["frames_count_exact"] == sum(sum(d["counts"].values()) == d["truth_count"] for d in docs)
    assert "count right on" in text
    assert set(summary["ms_per_stage"]) == {"parts-inst", "parts-seg"}
    frame = json.loads((out / "frames" / "001.json").read_text())
    assert 0 < frame["truth_count_sure"] <= frame["truth_count"]
    assert frame["parts"] and {"class_name", "area_px", "defect_px"} <= set(frame["parts"][0])
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[1] == 3 * 640
    assert (out / "overlays" / "000.jpg").is_file() and (out / "clip.mp4").stat().st_size > 0


def test_demo_refuses_an_empty_clip(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--frames", "0"])
    assert e.value.code == 2 and "whole number ≥ 1" in capsys.readouterr().err
