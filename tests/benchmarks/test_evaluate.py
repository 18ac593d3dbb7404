"""`edgeseg eval` end to end: a folder written like `edgeseg scenes` writes it, read back from disk (COCO RLE
and PNG label maps), gives the same figures as scoring the shipped models against the scenes' own truth."""

import json

import numpy as np
import pytest

import edgeseg
from edgeseg.bench import evaluate
from edgeseg.bench.metrics import ConfusionIoU, MaskAP, wilson_interval
from edgeseg.bench.scenes import SEMANTIC_CLASSES, SceneOptions, make_scene, write_dataset


FRAMES = ((0, 601), (6, 602), (15, 603))  # (parts, seed)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalset")
    scenes = [make_scene(SceneOptions(objects=n), seed=s) for n, s in FRAMES]
    write_dataset(root, scenes)
    return root, scenes


def test_instance_figures_match_the_in_memory_truth(data, tmp_path, capsys):
    root, scenes = data
    out = tmp_path / "inst.json"
    assert evaluate.main(["parts-inst", "--data", str(root), "--json", str(out), "--quiet"]) == 0
    fig = json.loads(out.read_text())
    assert {"mask_ap50", "mask_ap", "count_mae", "count_exact_rate", "count_bins", "device"} <= set(fig)
    assert fig["task"] == "instance" and fig["frames"] == 3 and fig["model"]["name"] == "parts-inst"
    # The figures come with the decoding they were made with: the model's own operating point here.
    assert {k: fig["model"]["decode"][k] for k in ("conf", "iou", "mask_iou", "sure_iou")} == \
        {"conf": 0.4, "iou": 0.3, "mask_iou": 0.5, "sure_iou": 0.65}
    ap, box_ap, found = MaskAP(3), MaskAP(3, kind="box"), []
    with edgeseg.load("parts-inst") as seg:
        for scene in scenes:
            r = seg(scene.image)
            ap.add(r.masks, r.scores, r.class_id, scene.truth.masks, scene.truth.class_id)
            whole = np.clip(scene.truth.amodal_xyxy, 0, [1280, 720, 1280, 720])  # its boxes are whole-part boxes
            box_ap.add(r.xyxy, r.scores, r.class_id, whole, scene.truth.class_id)
            found.append(len(r))
    truth = [len(s.truth.masks) for s in scenes]
    assert fig["mask_ap50"] == pytest.approx(ap.summary()["mask_ap50"], abs=1e-12)
    assert fig["mask_ap"] == pytest.approx(ap.summary()["mask_ap"], abs=1e-12)
    assert fig["box_truth"] == "amodal_bbox" and fig["box_ap"] == pytest.approx(box_ap.summary()["box_ap"], abs=1e-12)
    assert fig["count_mae"] == pytest.approx(np.mean(np.abs(np.subtract(found, truth))))
    hits = int(np.sum(np.equal(found, truth)))
    assert fig["count_exact_ci95"] == pytest.approx(list(wilson_interval(hits, 3)))
    assert fig["mask_ap50"] > 0.8  # the model sees these frames for the first time
    text = capsys.readouterr().out
    assert "mask AP50" in text and "count exact" in text and "95 % interval" in text
    assert "box AP50-95" in text and "(against amodal_bbox)" in text


def test_whole_boxes_are_scored_against_visible_boxes_where_the_data_has_none(data, tmp_path):
    root, _ = data
    doc = json.loads((root / "annotations.json").read_text())
    for a in doc["annotations"]:
        a.pop("amodal_bbox", None)
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    plain = evaluate.GroundTruth(root, tmp_path / "annotations.json")
    assert evaluate.GroundTruth(root).has_whole_boxes and not plain.has_whole_boxes
    with edgeseg.load("parts-inst") as seg:
        fig = evaluate.evaluate(seg, plain, progress=False)
    assert fig["box_truth"] == "bbox" and 0.5 < fig["box_ap50"] <= 1.0


def test_semantic_figures_match_the_in_memory_truth(data, tmp_path):
    root, scenes = data
    out = tmp_path / "seg.json"
    assert evaluate.main(["parts-seg", "--data", str(root), "--json", str(out), "--quiet"]) == 0
    fig = json.loads(out.read_text())
    assert fig["task"] == "semantic" and set(fig["per_class_iou"]) == {"background", "part", "defect"}
    conf = ConfusionIoU(3)
    with edgeseg.load("parts-seg") as seg:
        lut = evaluate.class_lut(SEMANTIC_CLASSES, seg.spec.class_names)  # belt → background, scratch/spot → defect
        for scene in scenes:
            conf.add(seg(scene.image).class_map, lut[scene.truth.semantic])
    assert fig["miou"] == pytest.approx(conf.miou(), abs=1e-12)
    assert fig["miou"] > 0.8


@pytest.mark.parametrize("name", ["parts-inst", "parts-seg"])
def test_scenes_made_in_memory_score_like_the_folder_written_from_them(data, name):
    root, scenes = data
    live = evaluate.SceneSet([(SceneOptions(objects=n), s) for n, s in FRAMES])
    assert len(live) == 3 and np.array_equal(live.image(1), scenes[1].image)
    with edgeseg.load(name) as seg:
        fig = evaluate.evaluate(seg, live, progress=False)
        disk = evaluate.evaluate(seg, evaluate.GroundTruth(root), progress=False)
    fig.pop("mean_total_ms"), disk.pop("mean_total_ms")
    assert fig == disk  # PNG images and RLE masks read back exactly


def test_errors_folder_lists_every_miscounted_frame(data, tmp_path, capsys):
    root, _ = data
    fig_path, errs = tmp_path / "fig.json", tmp_path / "errs"
    # The model counts these frames right; a demanding confidence floor makes it miss parts.
    assert evaluate.main(["parts-inst", "--data", str(root), "--json", str(fig_path), "--errors", str(errs),
                          "--conf", "0.97", "--quiet"]) == 0
    fig, doc = json.loads(fig_path.read_text()), json.loads((errs / "errors.json").read_text())
    miscounted = round(fig["frames"] * (1 - fig["count_exact_rate"]))
    assert miscounted == 2 and doc["missed"] > 0  # the two frames with parts
    assert doc["frames_with_errors"] == 2
    assert sum(f["found"] != f["truth"] for f in doc["frames"]) == miscounted
    assert len(list(errs.glob("*.jpg"))) == doc["frames_with_errors"]  # fewer than the default limit of 20
    # The scenes' annotations say how much of each part is in view: every part is tallied by that share.
    in_view = np.concatenate([evaluate.GroundTruth(root).visible_fractions(i) for i in range(3)])
    assert sum(t["truth"] for t in doc["by_visible"].values()) == len(in_view) == 21
    assert doc["by_visible"]["under 50 %"]["truth"] == int(np.sum(in_view < 0.5))
    assert sum(t["missed"] for t in doc["by_visible"].values()) == doc["missed"]
    assert all(0.4 <= m["visible_fraction"] <= 1 for f in doc["frames"] for m in f["missed"])
    # parts-inst's boxes are whole boxes: each missed part's best box is judged against its amodal_bbox.
    assert all(0 <= m["best_box_iou"] <= 1 for f in doc["frames"] for m in f["missed"])
    assert doc["missed_boxed_by_extra"] == sum(m["boxed_by_extra"] for f in doc["frames"] for m in f["missed"])
    text = capsys.readouterr().out
    assert "errors.json" in text and "by the share of the part in view" in text and "with a poor mask" in text
    assert evaluate.main(["parts-seg", "--data", str(root), "--errors", str(errs), "--quiet"]) != 0
    assert "instance models" in capsys.readouterr().err


def test_bad_data_is_a_clear_error(data, tmp_path, capsys):
    root, _ = data
    assert evaluate.main(["parts-inst", "--data", str(tmp_path), "--quiet"]) != 0
    assert "annotations.json" in capsys.readouterr().err
    coco = json.loads((root / "annotations.json").read_text())
    coco["categories"][0]["name"] = "bolt"
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    assert evaluate.main(["parts-inst", "--data", str(tmp_path), "--quiet"]) != 0
    assert "bolt" in capsys.readouterr().err


def test_visible_fractions_only_where_every_annotation_says(data, tmp_path):
    root, scenes = data
    gt = evaluate.GroundTruth(root)
    assert np.allclose(gt.visible_fractions(2), scenes[2].truth.visible_fraction, atol=1e-4)
    assert gt.visible_fractions(0).shape == (0,)  # a frame without parts
    coco = json.loads((root / "annotations.json").read_text())
    coco["annotations"][0].pop("visible_fraction")  # another tool's annotations need not say
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    other = evaluate.GroundTruth(root, tmp_path / "annotations.json")
    first = next(i for i in range(3) if coco["annotations"][0]["image_id"] == other.images[i]["id"])
    assert other.visible_fractions(first) is None


def test_slivers_at_a_clips_edges_are_ignored(tmp_path, capsys):
    # A moving belt: parts entering and leaving the view show a sliver of themselves, below what still scenes draw.
    from edgeseg.bench.scenes import make_sequence

    root = tmp_path / "clip"
    scenes = list(make_sequence(4, SceneOptions(objects=30), seed=7, speed_px=24.0))
    write_dataset(root, scenes)
    figs, errs = {}, {}
    for rule in ("0.4", "off"):
        out = tmp_path / f"{rule}.json"
        assert evaluate.main(["parts-inst", "--data", str(root), "--json", str(out), "--min-visible", rule,
                              "--errors", str(tmp_path / f"errs-{rule}"), "--quiet"]) == 0
        figs[rule] = json.loads(out.read_text())
        errs[rule] = json.loads((tmp_path / f"errs-{rule}" / "errors.json").read_text())
    text = capsys.readouterr().out
    sure = [int(np.sum(s.truth.visible_fraction >= 0.4)) for s in scenes]
    every = [len(s.truth.masks) for s in scenes]
    assert sum(every) > sum(sure)  # the clip has slivers
    assert figs["0.4"]["parts_ignored"] == sum(every) - sum(sure) and figs["off"]["parts_ignored"] == 0
    assert figs["0.4"]["min_visible"] == 0.4 and figs["off"]["min_visible"] is None
    assert "ignored" in text
    # --errors agrees: the slivers are ignored there too, and without the rule the missed ones are listed.
    assert errs["0.4"]["ignored"] == figs["0.4"]["parts_ignored"] and errs["off"]["ignored"] == 0
    slivers = [m for f in errs["off"]["frames"] for m in f["missed"] if m["visible_fraction"] < 0.4]
    assert slivers and all(m["visible_fraction"] >= 0.4 for f in errs["0.4"]["frames"] for m in f["missed"])
    with edgeseg.load("parts-inst") as seg:
        found = [len(seg(s.image)) for s in scenes]
    right = [lo <= f <= hi for f, lo, hi in zip(found, sure, every)]
    assert figs["0.4"]["count_exact_rate"] == pytest.approx(np.mean(right))
    assert figs["off"]["count_exact_rate"] == pytest.approx(np.mean(np.equal(found, every)))
    assert figs["0.4"]["count_exact_rate"] >= figs["off"]["count_exact_rate"]
    # Slivers left unfound no longer cost recall.
    assert figs["0.4"]["mask_ap50"] > figs["off"]["mask_ap50"]
    with pytest.raises(SystemExit):
        evaluate.main(["parts-inst", "--data", str(root), "--min-visible", "lots", "--quiet"])
    assert "--min-visible" in capsys.readouterr().err
