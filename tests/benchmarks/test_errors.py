"""Missed and extra parts per frame (edgeseg.bench.errors) on hand-made masks."""

import json

import cv2
import numpy as np
import pytest

from edgeseg.bench.errors import ErrorReport, centre_covered, in_pieces, match
from edgeseg.errors import InputError
from edgeseg.masks import CropMasks
from edgeseg.results import InstanceResult

HW = (40, 60)
NAMES = ("nut", "washer")


def _masks(boxes):
    boxes = np.array(boxes, np.int32).reshape(-1, 4)
    return CropMasks([np.ones((y1 - y0, x1 - x0), bool) for x0, y0, x1, y1 in boxes], boxes, HW)


def _pred(boxes, scores, classes):
    m = _masks(boxes)
    return InstanceResult(m.origins_xyxy.astype(np.float32), np.array(scores, np.float32),
                          np.array(classes, np.int32), m, HW, NAMES)


def test_match_best_score_first_and_class_agnostic():
    gt = _masks([[0, 0, 10, 10], [30, 0, 40, 10]])
    # 0: part 0 exactly (wrong class: still the part); 1: a worse copy of part 0; 2: on nothing.
    pred = _pred([[0, 0, 10, 10], [0, 0, 10, 8], [50, 30, 60, 40]], [0.9, 0.95, 0.5], [1, 0, 0])
    pred_to_gt, gt_to_pred, ious = match(pred, gt)
    # The better-scored copy (IoU 0.8) takes part 0 first; the exact one is left over.
    assert pred_to_gt.tolist() == [-1, 0, -1] and gt_to_pred.tolist() == [1, -1]
    assert ious[0, 0] == 1.0 and ious[1, 0] == 0.8


def test_report_lists_misses_and_extras_and_keeps_the_worst_frames(tmp_path):
    frame = np.zeros(HW + (3,), np.uint8)
    gt = _masks([[0, 0, 10, 10], [30, 0, 40, 10]])
    report = ErrorReport(tmp_path / "errs", limit=1)
    report.add("a.png", frame, _pred([[0, 0, 10, 10], [30, 0, 40, 10]], [0.9, 0.8], [0, 1]), gt,
               np.array([0, 1]), NAMES)  # perfect: not recorded
    report.add("b.png", frame, _pred([[1, 0, 10, 10]], [0.7], [0]), gt, np.array([0, 1]), NAMES)  # one missed
    report.add("c.png", frame, InstanceResult.empty(HW, NAMES), gt, np.array([0, 1]), NAMES)  # two missed
    report.add("d.png", frame, InstanceResult.empty(HW, NAMES), _masks([]), np.zeros(0, int), NAMES)  # zero
    report.add("e.png", frame, _pred([[0, 0, 10, 10], [30, 0, 40, 10], [50, 30, 60, 40]], [0.9, 0.8, 0.4],
                                     [0, 1, 0]), gt, np.array([0, 1]), NAMES)  # one extra
    doc = json.loads(report.write().read_text())
    assert doc["frames_with_errors"] == 3 and doc["missed"] == 3 and doc["extra"] == 1
    assert doc["frames"][2]["extra"] == [{"class": "nut", "score": 0.4, "xyxy": [50.0, 30.0, 60.0, 40.0],
                                          "best_iou": 0.0}]
    b = doc["frames"][0]
    assert b["image"] == "b.png" and b["truth"] == 2 and b["found"] == 1
    assert b["missed"] == [{"class": "washer", "area": 100, "xyxy": [30, 0, 40, 10], "best_iou": 0.0,
                            "centre_covered": False, "in_pieces": False}]
    # Every truth part of every frame is tallied, recorded or not: 2 + 2 + 2 + 0 + 2, 3 of them missed.
    assert doc["by_centre"] == {"covered": {"truth": 0, "missed": 0}, "free": {"truth": 8, "missed": 3}}
    assert doc["by_pieces"] == {"pieces": {"truth": 0, "missed": 0}, "whole": {"truth": 8, "missed": 3}}
    assert sorted(p.name for p in (tmp_path / "errs").iterdir()) == ["c.jpg", "errors.json"]  # limit 1: the worst
    assert cv2.imread(str(tmp_path / "errs" / "c.jpg")).shape == (40, 120, 3)  # truth | predictions


def test_report_tallies_by_share_in_view_where_the_truth_says(tmp_path):
    frame = np.zeros(HW + (3,), np.uint8)
    gt = _masks([[0, 0, 10, 10], [30, 0, 40, 10], [50, 0, 60, 10]])
    report = ErrorReport(tmp_path, limit=0)
    found = _pred([[30, 0, 40, 10]], [0.9], [0])  # parts 0 and 2 missed
    report.add("a.png", frame, found, gt, np.array([0, 1, 0]), NAMES, visible=np.array([0.45, 0.5, 1.0]))
    report.add("b.png", frame, found, gt, np.array([0, 1, 0]), NAMES)  # no shares: in the other tallies only
    doc = json.loads(report.write().read_text())
    assert doc["by_visible"] == {"under 50 %": {"truth": 1, "missed": 1}, "50-80 %": {"truth": 1, "missed": 0},
                                 "80 % or more": {"truth": 1, "missed": 1}}
    assert doc["by_pieces"]["whole"] == {"truth": 6, "missed": 4}
    assert [m["visible_fraction"] for m in doc["frames"][0]["missed"]] == [0.45, 1.0]
    assert all("visible_fraction" not in m for m in doc["frames"][1]["missed"])
    with pytest.raises(InputError, match="2 visible fractions for 3 truth parts"):
        report.add("c.png", frame, found, gt, np.array([0, 1, 0]), NAMES, visible=np.array([0.5, 1.0]))


def test_missed_parts_boxed_by_an_extra_prediction_were_found_with_a_poor_mask(tmp_path):
    frame = np.zeros(HW + (3,), np.uint8)
    # Truth: 0 a square; 1 a bar; 2 a part lying under the bar, showing a sliver, with the bar's whole box.
    gt_boxes = np.array([[0, 0, 20, 20], [30, 0, 40, 10], [30, 0, 40, 10]], np.float32)
    gt = CropMasks([np.ones((20, 20), bool), np.ones((10, 10), bool), np.ones((2, 10), bool)],
                   np.array([[0, 0, 20, 20], [30, 0, 40, 10], [30, 8, 40, 10]], np.int32), HW)
    # Predictions: the square's box with a mask on a fifth of it (mask IoU 0.2: missed, and extra); the bar.
    masks = CropMasks([np.ones((4, 20), bool), np.ones((10, 10), bool)],
                      np.array([[0, 0, 20, 4], [30, 0, 40, 10]], np.int32), HW)
    pred = InstanceResult(gt_boxes[:2].copy(), np.array([0.9, 0.8], np.float32), np.array([0, 1], np.int32),
                          masks, HW, NAMES)
    report = ErrorReport(tmp_path, limit=0)
    report.add("a.png", frame, pred, gt, np.array([0, 1, 0]), NAMES, gt_boxes=gt_boxes)
    report.add("b.png", frame, pred, gt, np.array([0, 1, 0]), NAMES)  # no truth boxes: no box fields
    doc = json.loads(report.write().read_text())
    missed = doc["frames"][0]["missed"]
    assert [(m["best_iou"], m["best_box_iou"], m["boxed_by_extra"]) for m in missed] == [
        (0.2, 1.0, True),  # found, with a poor mask: the count stays right
        (0.2, 1.0, False)]  # boxed only by the bar's own detection: not found
    assert doc["missed_boxed_by_extra"] == 1
    assert all("best_box_iou" not in m for m in doc["frames"][1]["missed"])
    with pytest.raises(InputError, match="2 truth boxes for 3 truth parts"):
        report.add("c.png", frame, pred, gt, np.array([0, 1, 0]), NAMES, gt_boxes=gt_boxes[:2])


def test_ignored_parts_are_neither_missed_nor_extra(tmp_path):
    frame = np.zeros(HW + (3,), np.uint8)
    # Truth: 0 and 1 to find; 2 and 3 slivers to ignore. Part 2 lies inside part 0's box.
    gt = _masks([[0, 0, 10, 10], [30, 0, 40, 10], [0, 0, 10, 6], [50, 30, 60, 40]])
    ignore = np.array([False, False, True, True])
    classes = np.array([0, 1, 0, 1])
    # 0 fits sliver 2 exactly and part 0 at IoU 0.6: it takes part 0, the part to find; 1 is on sliver 3.
    pred = _pred([[0, 0, 10, 6], [50, 30, 60, 40]], [0.9, 0.8], [0, 1])
    pred_to_gt, gt_to_pred, _ = match(pred, gt, ignore=ignore)
    assert pred_to_gt.tolist() == [0, 3] and gt_to_pred.tolist() == [0, -1, -1, 1]
    assert match(pred, gt)[0].tolist() == [2, 3]  # without the flags: the best fit
    report = ErrorReport(tmp_path, limit=5)
    report.add("a.png", frame, pred, gt, classes, NAMES, ignore=ignore)  # part 1 missed, nothing extra
    found_all = _pred([[0, 0, 10, 10], [30, 0, 40, 10], [50, 30, 60, 40]], [0.9, 0.8, 0.7], [0, 1, 1])
    report.add("b.png", frame, found_all, gt, classes, NAMES, ignore=ignore)  # right: not recorded
    doc = json.loads(report.write().read_text())
    assert doc["frames_with_errors"] == 1 and doc["missed"] == 1 and doc["extra"] == 0 and doc["ignored"] == 4
    a = doc["frames"][0]
    assert (a["truth"], a["ignored"], a["found"]) == (2, 2, 2) and [m["xyxy"] for m in a["missed"]] == [[30, 0, 40, 10]]
    assert doc["by_centre"]["free"]["truth"] + doc["by_centre"]["covered"]["truth"] == 4  # parts to find only
    assert cv2.imread(str(tmp_path / "a.jpg")).shape == (40, 120, 3)
    with pytest.raises(InputError, match="3 ignore flags for 4 truth parts"):
        report.add("c.png", frame, pred, gt, classes, NAMES, ignore=ignore[:3])


def test_centre_covered_only_by_another_parts_pixels():
    ring = np.ones((20, 20), bool)
    ring[5:15, 5:15] = False  # a washer: its centre (10, 10) is its hole, background
    bar = np.ones((4, 30), bool)  # a bar lying across the middle of a square
    square = np.ones((20, 20), bool)
    square[8:12, :] = False  # the square's visible pixels: what the bar leaves of it
    masks = CropMasks([ring, square, bar, np.ones((2, 2), bool)],
                      np.array([[0, 0, 20, 20], [30, 10, 50, 30], [25, 18, 55, 22], [56, 0, 58, 2]], np.int32), HW)
    assert centre_covered(masks).tolist() == [False, True, False, False]
    assert centre_covered(_masks([])).shape == (0,)


def test_in_pieces_counts_diagonal_touch_as_one_piece():
    bar = np.ones((4, 30), bool)
    split = bar.copy()
    split[:, 14:16] = False  # a bar with a capsule across its middle: two pieces
    diagonal = np.eye(6, dtype=bool)  # touching at corners only: one 8-connected piece
    ring = np.ones((20, 20), bool)
    ring[5:15, 5:15] = False  # a washer: one piece with a hole
    boxes = np.array([[0, 0, 30, 4], [0, 10, 30, 14], [40, 0, 46, 6], [40, 10, 60, 30]], np.int32)
    assert in_pieces(CropMasks([bar, split, diagonal, ring], boxes, HW)).tolist() == [False, True, False, False]
    assert in_pieces(_masks([])).shape == (0,)


def test_report_without_images_and_a_bad_limit(tmp_path):
    gt = _masks([[0, 0, 10, 10]])
    report = ErrorReport(tmp_path, limit=0)
    report.add("a.png", np.zeros(HW + (3,), np.uint8), InstanceResult.empty(HW, NAMES), gt, np.array([0]), NAMES)
    report.add("b.png", np.zeros(HW + (3,), np.uint8), InstanceResult.empty(HW, NAMES), gt, np.array([0]), NAMES)
    assert json.loads(report.write().read_text())["frames_with_errors"] == 2
    assert not list(tmp_path.glob("*.jpg"))
    with pytest.raises(InputError, match="0 or more"):
        ErrorReport(tmp_path, limit=-1)


def test_same_file_name_in_two_folders_keeps_both_images(tmp_path):
    gt = _masks([[0, 0, 10, 10]])
    report = ErrorReport(tmp_path)
    for name in ("left/000001.png", "right/000001.png"):
        report.add(name, np.zeros(HW + (3,), np.uint8), InstanceResult.empty(HW, NAMES), gt, np.array([0]), NAMES)
    report.write()
    assert len(list(tmp_path.glob("*.jpg"))) == 2
