import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from edgeseg.bench.metrics import ConfusionIoU, MaskAP, box_iou_matrix, count_errors, crop_iou_matrix, wilson_interval
from edgeseg.bench.scenes import SceneOptions, make_scenes, write_dataset
from edgeseg.masks import CropMasks


def _perturbed_predictions(truth, rng):
    """Predictions from ground truth: some dilated/eroded, some dropped, some false, random scores."""
    crops, origins, classes, scores = [], [], [], []
    h, w = truth.semantic.shape
    for i in range(len(truth.masks)):
        if rng.random() < 0.1:
            continue  # missed
        x0, y0, x1, y1 = (int(v) for v in truth.masks.origins_xyxy[i])
        full = truth.masks.full(i).astype(np.uint8)
        op = rng.integers(0, 3)
        if op == 1:
            full = cv2.dilate(full, np.ones((3, 3), np.uint8), iterations=int(rng.integers(1, 4)))
        elif op == 2:
            full = cv2.erode(full, np.ones((3, 3), np.uint8), iterations=int(rng.integers(1, 3)))
        ys, xs = np.nonzero(full)
        if len(ys) == 0:
            continue
        bx0, by0, bx1, by1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        crops.append(full[by0:by1, bx0:bx1].astype(bool))
        origins.append((bx0, by0, bx1, by1))
        wrong_class = rng.random() < 0.05
        classes.append(int((truth.class_id[i] + 1) % 3) if wrong_class else int(truth.class_id[i]))
        scores.append(float(rng.uniform(0.3, 1.0)))
    for _ in range(3):  # false positives
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        crops.append(np.ones((15, 15), bool))
        origins.append((x0, y0, x0 + 15, y0 + 15))
        classes.append(int(rng.integers(0, 3)))
        scores.append(float(rng.uniform(0.3, 0.9)))
    return CropMasks(crops, np.array(origins).reshape(-1, 4), (h, w)), np.array(scores), np.array(classes)


class _IgnoringCOCOeval(COCOeval):
    """pycocotools' evaluation with its per-annotation `ignore` flag taken from our `edgeseg_ignore` key:
    its _prepare overwrites `ignore` with `iscrowd`, and a crowd changes how IoU is computed, so the flag is set
    after _prepare; evaluateImg then treats those parts as COCO's ignored ground truth."""

    def _prepare(self):
        super()._prepare()
        for gts in self._gts.values():
            for g in gts:
                g["ignore"] = int(g.get("edgeseg_ignore", 0))


@pytest.mark.parametrize("ignore_share", [0.0, 0.3])
def test_mask_ap_matches_pycocotools(tmp_path, ignore_share):
    rng = np.random.default_rng(0)
    scenes = list(make_scenes(6, SceneOptions(size_wh=(320, 240), objects=25), seed=4))
    write_dataset(tmp_path, scenes)
    ignores = [rng.random(len(s.truth.masks)) < ignore_share for s in scenes]
    ap, box_ap = MaskAP(3), MaskAP(3, kind="box")
    results = []
    for image_id, (scene, ignore) in enumerate(zip(scenes, ignores)):
        masks, scores, classes = _perturbed_predictions(scene.truth, rng)
        ap.add(masks, scores, classes, scene.truth.masks, scene.truth.class_id, gt_ignore=ignore)
        box_ap.add(masks.origins_xyxy, scores, classes, scene.truth.xyxy, scene.truth.class_id, gt_ignore=ignore)
        for i in range(len(masks)):
            x0, y0, x1, y1 = (int(v) for v in masks.origins_xyxy[i])
            results.append({"image_id": image_id, "category_id": int(classes[i]) + 1, "score": float(scores[i]),
                            "segmentation": masks.rle(i), "bbox": [x0, y0, x1 - x0, y1 - y0]})
    ours = ap.summary()
    gt = COCO(str(tmp_path / "annotations.json"))
    for image_id, ignore in enumerate(ignores):  # annotations are listed per image, in the truth's order
        for ann, flag in zip(gt.imgToAnns[image_id], ignore):
            ann["edgeseg_ignore"] = bool(flag)
    assert sum(int(i.sum()) for i in ignores) == sum(a.get("edgeseg_ignore", False) for a in gt.anns.values())
    for r in results:  # pycocotools wants compressed RLE for results
        from pycocotools import mask as coco_mask

        r["segmentation"] = coco_mask.frPyObjects(r["segmentation"], *r["segmentation"]["size"])
        r["segmentation"]["counts"] = r["segmentation"]["counts"].decode()
    for kind, figures in (("segm", ours), ("bbox", box_ap.summary())):
        ev = _IgnoringCOCOeval(gt, gt.loadRes(results), kind)
        ev.params.maxDets = [300]  # frames hold more than COCO's default 100 objects
        ev.evaluate()
        ev.accumulate()
        precision = ev.eval["precision"][:, :, :, 0, 0]  # (T, R, K) at area "all", maxDets 300
        coco_ap = precision[precision > -1].mean()
        coco_ap50 = precision[0][precision[0] > -1].mean()
        key = "mask" if kind == "segm" else "box"
        assert 0.5 < figures[f"{key}_ap50"] < 1.0  # the perturbations make AP informative, not trivially 0 or 1
        assert figures[f"{key}_ap"] == pytest.approx(coco_ap, abs=0.005)
        assert figures[f"{key}_ap50"] == pytest.approx(coco_ap50, abs=0.005)
    assert ours["mask_ap"] != box_ap.summary()["box_ap"]


def test_ignored_truth_is_neither_found_nor_missed():
    scene = next(make_scenes(1, SceneOptions(size_wh=(200, 150), objects=8), seed=1))
    t = scene.truth
    ignore = np.zeros(len(t.masks), bool)
    ignore[:3] = True
    keep = np.flatnonzero(~ignore)
    # Finding only the parts to find is perfect; finding the ignored ones as well costs nothing either.
    for found in (keep, np.arange(len(t.masks))):
        ap = MaskAP(3)
        ap.add(t.masks[found], np.linspace(1, 0.5, len(found)), t.class_id[found], t.masks, t.class_id,
               gt_ignore=ignore)
        assert ap.summary()["mask_ap"] == pytest.approx(1.0)
    # Without the flags, missing the three parts costs recall.
    ap = MaskAP(3)
    ap.add(t.masks[keep], np.ones(len(keep)), t.class_id[keep], t.masks, t.class_id)
    assert ap.summary()["mask_ap"] < 0.9
    with pytest.raises(ValueError, match="gt_ignore"):
        ap.add(t.masks, np.ones(len(t.masks)), t.class_id, t.masks, t.class_id, gt_ignore=ignore[:2])
    # A detection matches a part to find before a part to ignore, even one it fits better (as pycocotools):
    # here IoU 1.0 with the ignored box and 0.83 with the other, so it is right up to t = 0.8 and ignored above.
    boxes = MaskAP(1, kind="box")
    boxes.add(np.array([[0, 0, 10, 10]]), np.ones(1), np.zeros(1), np.array([[0, 0, 10, 10], [0, 0, 10, 12]]),
              np.zeros(2), gt_ignore=np.array([True, False]))
    assert boxes.summary()["box_ap50"] == pytest.approx(1.0) and boxes.summary()["box_ap"] == pytest.approx(0.7)


def test_box_iou_matrix():
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15]])
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    m = box_iou_matrix(a, b)
    assert m.shape == (2, 3)
    assert m[0, 0] == 1.0 and m[1, 0] == pytest.approx(25 / 175) and m[:, 1:].max() == 0.0  # empty box: 0, no NaN
    assert box_iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)
    with pytest.raises(ValueError, match="kind"):
        MaskAP(3, kind="keypoints")


def test_perfect_predictions_score_one_and_empty_is_handled():
    scene = next(make_scenes(1, SceneOptions(size_wh=(200, 150), objects=8), seed=1))
    t = scene.truth
    ap = MaskAP(3)
    ap.add(t.masks, np.ones(len(t.masks)), t.class_id, t.masks, t.class_id)
    ap.add(CropMasks.empty((150, 200)), np.zeros(0), np.zeros(0), CropMasks.empty((150, 200)), np.zeros(0))
    s = ap.summary()
    assert s["mask_ap50"] == pytest.approx(1.0) and s["mask_ap"] == pytest.approx(1.0)
    assert np.allclose(np.diag(crop_iou_matrix(t.masks, t.masks)), 1.0)
    none = MaskAP(3)
    none.add(CropMasks.empty((150, 200)), np.zeros(0), np.zeros(0), t.masks, t.class_id)
    assert none.summary()["mask_ap50"] == 0.0


def test_confusion_iou_and_counts():
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 2]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 9]])
    c = ConfusionIoU(3)
    c.add(pred, truth)
    iou = c.per_class_iou()
    assert iou[0] == pytest.approx(3 / 4) and iou[1] == pytest.approx(3 / 4)
    assert iou[2] == 0.0  # its one pixel was predicted out of range: a miss
    c2 = ConfusionIoU(2)
    c2.add(np.array([[0, 1]]), np.array([[0, 255]]), ignore=255)
    assert c2.matrix.sum() == 1 and c2.miou() == 1.0
    e = count_errors([10, 9, 0], [10, 10, 0])
    assert e["count_exact_rate"] == pytest.approx(2 / 3) and e["count_mae"] == pytest.approx(1 / 3)
    assert e["count_mean_rel_error"] == pytest.approx(0.05)
    lo, hi = e["count_exact_ci95"]
    assert 0 < lo < 2 / 3 < hi < 1
    json.dumps(e)
    # With parts to ignore, a count anywhere from the parts to find to all parts is right; the error is the
    # distance to that range.
    r = count_errors([31, 33, 29, 35, 0], [31, 31, 31, 31, 0], truth_most=[33, 33, 33, 33, 1])
    assert r["count_exact_rate"] == pytest.approx(3 / 5) and r["count_mae"] == pytest.approx(4 / 5)
    assert r["count_mean_rel_error"] == pytest.approx((2 / 31 + 2 / 31) / 4)
    assert count_errors([10, 9, 0], [10, 10, 0], truth_most=[10, 10, 0]) == e


def test_wilson_interval_of_the_exact_count_rate():
    # 90 of 100 frames: the textbook Wilson interval; it holds the measured rate and narrows with more frames.
    lo, hi = wilson_interval(90, 100)
    assert lo == pytest.approx(0.8256, abs=1e-4) and hi == pytest.approx(0.9448, abs=1e-4)
    lo4, hi4 = wilson_interval(360, 400)
    assert lo < lo4 < 0.9 < hi4 < hi
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    assert 0 < wilson_interval(20, 20)[0] < 1
    assert all(np.isnan(wilson_interval(0, 0)))
