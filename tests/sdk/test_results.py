import json

import numpy as np
import pytest

from edgeseg.errors import InputError
from edgeseg.masks import CropMasks
from edgeseg.results import InstanceResult, PanopticResult, SemanticResult, Timings


def _result():
    frame_hw = (20, 30)
    origins = np.array([[0, 0, 5, 5], [10, 5, 20, 15], [3, 3, 8, 8]])
    crops = [np.ones((5, 5), bool), np.ones((10, 10), bool), np.eye(5, dtype=bool)]
    return InstanceResult(origins.astype(np.float32), np.array([0.9, 0.5, 0.7]), np.array([0, 1, 0]),
                          CropMasks(crops, origins, frame_hw), frame_hw, ("nut", "washer"),
                          Timings(1.0, 2.0, 3.0))


def test_boolean_indexing_counts_and_areas():
    r = _result()
    assert r.counts() == {"nut": 2, "washer": 1}
    assert r.areas.tolist() == [25, 100, 5]
    high = r[r.scores > 0.6]
    assert len(high) == 2 and high.class_id.tolist() == [0, 0] and high.areas.tolist() == [25, 5]
    assert high.timings == r.timings
    assert len(r[r.scores > 2]) == 0 and r[r.scores > 2].counts() == {"nut": 0, "washer": 0}


def test_arrays_are_read_only():
    r = _result()
    with pytest.raises(ValueError):
        r.xyxy[0, 0] = 5
    with pytest.raises(ValueError):
        r.masks.crops[0][0, 0] = False


def test_label_map_puts_higher_scores_on_top():
    r = _result()
    lm = r.label_map()
    assert lm.shape == (20, 30)
    assert lm[3, 3] == 1  # instance 0 (0.9) above instance 2 (0.7) where they overlap
    assert lm[7, 7] == 3
    assert lm[10, 15] == 2 and lm[19, 29] == 0


def test_json_coco_overlay():
    r = _result()
    doc = json.loads(r.to_json(rle=True))
    assert doc["count"] == 3 and doc["instances"][1]["class_name"] == "washer"
    assert doc["timings"]["total_ms"] == 6.0
    anns = r.to_coco(image_id=7)
    assert anns[1]["bbox"] == [10.0, 5.0, 10.0, 10.0] and anns[1]["area"] == 100
    frame = np.zeros((20, 30, 3), np.uint8)
    out = r.overlay(frame)
    assert out.shape == frame.shape and out[10, 15].any() and not frame.any()
    with pytest.raises(InputError, match="result is for a \\(20, 30\\) frame"):
        r.overlay(np.zeros((10, 10, 3), np.uint8))
    assert len(r.polygons()) == 3


def test_empty_and_validation():
    e = InstanceResult.empty((4, 6), ("a",))
    assert len(e) == 0 and e.counts() == {"a": 0} and e.label_map().sum() == 0
    assert e.overlay(np.zeros((4, 6, 3), np.uint8)).shape == (4, 6, 3)
    with pytest.raises(InputError, match="differ in length"):
        InstanceResult(np.zeros((2, 4)), np.zeros(1), np.zeros(2), CropMasks.empty((4, 6)), (4, 6))
    with pytest.raises(InputError, match="xyxy: expected shape \\(N, 4\\)"):
        InstanceResult(np.zeros((2, 3)), np.zeros(2), np.zeros(2), CropMasks.empty((4, 6)), (4, 6))


def test_semantic_result():
    cm = np.zeros((4, 5), np.uint8)
    cm[:, 3:] = 2
    s = SemanticResult(cm, ("bg", "a", "b"))
    assert s.pixel_counts.tolist() == [12, 0, 8]
    assert [a["category_id"] for a in s.to_coco()] == [0, 2]
    assert s.overlay(np.zeros((4, 5, 3), np.uint8))[0, 4].any()
    with pytest.raises(InputError, match="integer array"):
        SemanticResult(np.zeros((4, 5), np.float32))


def test_panoptic_result_json():
    lm = np.array([[1, 1], [2, 0]])
    p = PanopticResult(lm, np.array([1, 2]), np.array([0, 1]), np.array([True, False]), np.array([2, 1]),
                       np.array([0.9, 1.0]), ("car", "road"))
    doc = json.loads(p.to_json())
    assert doc["counts"] == {"car": 1} and doc["segments"][1]["class_name"] == "road"
