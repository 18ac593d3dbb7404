import argparse
import contextlib
import io
import json
import re

import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from edgeseg.bench import scenes
from edgeseg.bench.scenes import (CLASS_NAMES, SEMANTIC_CLASSES, SceneOptions, load_dataset, make_scene, make_scenes,
                                  make_sequence, write_dataset)
from edgeseg.errors import InputError


def check_truth(scene):
    """Everything the truth promises, against a slow full-frame reading of it."""
    t = scene.truth
    h, w = t.frame_hw
    assert scene.image.shape == (h, w, 3) and scene.image.dtype == np.uint8
    assert t.semantic.shape == (h, w) and t.semantic.dtype == np.uint8
    assert set(np.unique(t.semantic).tolist()) <= set(range(len(SEMANTIC_CLASSES)))
    o = t.masks.origins_xyxy
    assert ((o[:, 0] >= 0) & (o[:, 1] >= 0) & (o[:, 2] <= w) & (o[:, 3] <= h)).all()
    np.testing.assert_array_equal(t.xyxy, o)
    for crop in t.masks.crops:  # tight boxes: every edge row and column holds a pixel
        assert crop.any(0)[[0, -1]].all() and crop.any(1)[[0, -1]].all()
    assert len(set(t.instance_id.tolist())) == len(t) and (t.instance_id >= 1).all()
    assert ((t.class_id >= 0) & (t.class_id < len(CLASS_NAMES))).all()
    assert ((t.visible_fraction > 0) & (t.visible_fraction <= 1)).all()
    # The whole part's box holds what shows of it, and is that box where all of it shows.
    a = t.amodal_xyxy
    assert (a[:, :2] <= t.xyxy[:, :2]).all() and (a[:, 2:] >= t.xyxy[:, 2:]).all()
    np.testing.assert_array_equal(a[t.visible_fraction == 1], t.xyxy[t.visible_fraction == 1])

    cover = np.zeros((h, w), np.int32)
    for i in range(len(t)):
        cover += t.masks.full(i)
    assert cover.max(initial=0) <= 1, "visible instance masks overlap"
    np.testing.assert_array_equal(cover.astype(bool), t.semantic > 0)

    defects = np.zeros((h, w), np.uint8)
    for j in range(len(t.defect_class)):
        m = t.defect_masks.full(j)
        assert m.any() and (defects[m] == 0).all()
        defects[m] = t.defect_class[j]
        assert not (m & ~t.masks.full(int(t.defect_instance[j]))).any(), "defect outside its part"
    assert set(t.defect_class.tolist()) <= {2, 3}
    np.testing.assert_array_equal(np.where(t.semantic >= 2, t.semantic, 0), defects)
    np.testing.assert_array_equal(t.defect_areas, [np.count_nonzero(c) for c in t.defect_masks.crops])


def test_constants():
    assert SEMANTIC_CLASSES == ("belt", "part", "scratch", "spot")
    assert CLASS_NAMES == ("hex_nut", "washer", "capsule")


def test_same_seed_same_bytes_other_seed_other_bytes():
    opts = SceneOptions(size_wh=(320, 240), objects=30, defect_rate=0.5, overlap_rate=0.3)
    a, b, c = make_scene(opts, seed=11), make_scene(opts, seed=11), make_scene(opts, seed=12)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.truth.semantic.tobytes() == b.truth.semantic.tobytes()
    assert [a.truth.masks.rle(i) for i in range(30)] == [b.truth.masks.rle(i) for i in range(30)]
    assert a.image.tobytes() != c.image.tobytes()
    # Frame k of a batch depends on (seed, k) only, not on how many frames are asked for.
    two, three = list(make_scenes(2, opts, seed=5)), list(make_scenes(3, opts, seed=5))
    assert two[1].image.tobytes() == three[1].image.tobytes()
    assert two[0].image.tobytes() != two[1].image.tobytes()


@pytest.mark.parametrize("n, size_wh", [(0, (320, 240)), (1, (320, 240)), (10, (640, 360)), (100, (640, 360)),
                                        (300, (1280, 720))])
def test_truth_holds_exactly_n_parts(n, size_wh):
    opts = SceneOptions(size_wh=size_wh, objects=n)
    scene = make_scene(opts, seed=n)
    t = scene.truth
    assert len(t) == n and sum(t.counts().values()) == n
    assert t.class_id.dtype == np.int32 and t.xyxy.shape == (n, 4) and t.xyxy.dtype == np.float32
    if n:
        assert t.areas.min() >= opts.min_visible_px
        assert t.visible_fraction.min() >= opts.min_visible_fraction
    check_truth(scene)


def test_part_size_follows_the_count():
    few, many = SceneOptions(objects=10), SceneOptions(objects=300)
    assert few.part_radius() > 2 * many.part_radius()
    cover = (make_scene(many, seed=1).truth.semantic > 0).mean()
    assert 0.25 < cover < 0.5  # coverage 0.4 asked, minus what occlusion hides


@pytest.mark.parametrize("seed", range(3))
def test_overlaps_defects_borders_and_touching(seed):
    opts = SceneOptions(size_wh=(480, 320), objects=60, defect_rate=1.0, overlap_rate=0.5, touch_rate=0.3)
    scene = make_scene(opts, seed=seed)
    check_truth(scene)
    t = scene.truth
    h, w = t.frame_hw
    o = t.masks.origins_xyxy
    at_border = (o[:, 0] == 0) | (o[:, 1] == 0) | (o[:, 2] == w) | (o[:, 3] == h)
    assert at_border.any()
    assert (t.visible_fraction[~at_border] < 0.99).any(), "no part hidden by another"
    assert {2, 3} <= set(np.unique(t.semantic).tolist())
    assert len(t.defect_class) >= 30
    per_part = t.instance_defects()
    assert sum(len(d) for d in per_part) == len(t.defect_class)
    assert all(d["kind"] in ("scratch", "spot") and d["area"] > 0 for ds in per_part for d in ds)
    # Touching: some pixel of one part has a 4-neighbour in another.
    labels = np.zeros((h, w), np.int32)
    for i in range(len(t)):
        labels[t.masks.full(i)] = i + 1
    right = (labels[:, :-1] > 0) & (labels[:, 1:] > 0) & (labels[:, :-1] != labels[:, 1:])
    down = (labels[:-1] > 0) & (labels[1:] > 0) & (labels[:-1] != labels[1:])
    assert right.any() or down.any()


def test_no_defects_at_rate_zero():
    t = make_scene(SceneOptions(size_wh=(320, 240), objects=40, defect_rate=0.0), seed=3).truth
    assert len(t.defect_class) == 0 and t.semantic.max() <= 1 and t.defect_masks.origins_xyxy.shape == (0, 4)


def test_bad_options_raise():
    with pytest.raises(InputError, match="do not fit a 64x48 frame"):
        SceneOptions(size_wh=(64, 48), objects=300)
    with pytest.raises(InputError, match="defect_rate"):
        SceneOptions(defect_rate=1.5)
    with pytest.raises(InputError, match="objects"):
        SceneOptions(objects=-1)
    with pytest.raises(InputError, match="objects_range"):
        make_scenes(1, seed=0, objects_range=(5, 2))
    with pytest.raises(InputError, match="do not fit"):
        make_scenes(1, SceneOptions(size_wh=(64, 48)), objects_range=(1, 400))
    with pytest.raises(InputError, match="speed_px"):
        make_sequence(3, speed_px=-1)


def test_sequence_moves_in_x_with_stable_ids():
    speed = 10
    opts = SceneOptions(size_wh=(320, 240), objects=12, defect_rate=0.5)
    frames = list(make_sequence(8, opts, seed=3, speed_px=speed))
    assert [f.frame_index for f in frames] == list(range(8))
    again = list(make_sequence(8, opts, seed=3, speed_px=speed))
    assert frames[5].image.tobytes() == again[5].image.tobytes()
    w = 320
    rigid = 0
    for prev, cur in zip(frames, frames[1:]):
        check_truth(cur)
        p = {int(k): i for i, k in enumerate(prev.truth.instance_id)}
        c = {int(k): i for i, k in enumerate(cur.truth.instance_id)}
        for k in c.keys() - p.keys():  # entering: its visible pixels were all left of the frame a step ago
            assert cur.truth.masks.origins_xyxy[c[k]][0] < speed
        for k in p.keys() - c.keys():  # leaving at the right
            assert prev.truth.masks.origins_xyxy[p[k]][2] > w - speed
        for k in c.keys() & p.keys():
            a, b = prev.truth.masks.origins_xyxy[p[k]], cur.truth.masks.origins_xyxy[c[k]]
            if a[0] > 0 and b[2] < w:  # away from the left and right edges: the same pixels, moved +speed
                np.testing.assert_array_equal(b, a + [speed, 0, speed, 0])
                np.testing.assert_array_equal(cur.truth.masks.crops[c[k]], prev.truth.masks.crops[p[k]])
                assert cur.truth.class_id[c[k]] == prev.truth.class_id[p[k]]
                rigid += 1
    assert rigid >= 20
    assert len({int(k) for f in frames for k in f.truth.instance_id}) > 12  # parts came and went


def _coco_quiet(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_coco_export_reads_back(tmp_path):
    opts = SceneOptions(size_wh=(320, 240), objects=25, defect_rate=0.5, overlap_rate=0.3)
    frames = list(make_scenes(3, opts, seed=7))
    path = write_dataset(tmp_path, frames)
    assert path == tmp_path / "annotations.json"
    for k in range(3):
        assert (tmp_path / "images" / f"{k:06d}.png").is_file() and (tmp_path / "labels" / f"{k:06d}.png").is_file()
    coco = _coco_quiet(path)
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(CLASS_NAMES)
    assert len(coco.getAnnIds()) == 75
    for k, scene in enumerate(frames):
        t = scene.truth
        label = cv2.imread(str(tmp_path / "labels" / f"{k:06d}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(label, t.semantic)
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / "images" / f"{k:06d}.png")), scene.image)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[k]))
        assert [a["instance_id"] for a in anns] == t.instance_id.tolist()
        for i, a in enumerate(anns):
            m = coco.annToMask(a).astype(bool)
            np.testing.assert_array_equal(m, t.masks.full(i))
            assert a["area"] == m.sum() == int(coco_mask.area(coco.annToRLE(a)))
            assert a["iscrowd"] == 0 and a["category_id"] == t.class_id[i] + 1
            x, y, bw, bh = a["bbox"]
            assert (x, y, x + bw, y + bh) == tuple(t.xyxy[i].astype(int))
            for d in a["defects"]:
                dm = coco_mask.decode(coco_mask.frPyObjects(d["segmentation"], 240, 320)).astype(bool)
                assert dm.sum() == d["area"] > 0 and not (dm & ~m).any()

    # The file is fit for pycocotools evaluation: the truth scored against itself is perfect.
    results = [{**a, "score": 1.0} for a in coco.loadAnns(coco.getAnnIds())]
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco, coco.loadRes(results), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)

    ds = load_dataset(tmp_path)
    assert len(ds) == 3
    for k, scene in enumerate(frames):
        back = ds[k]
        np.testing.assert_array_equal(back.image, scene.image)
        a, b = scene.truth, back.truth
        np.testing.assert_array_equal(b.semantic, a.semantic)
        for name in ("class_id", "instance_id", "xyxy", "amodal_xyxy", "defect_class", "defect_instance"):
            np.testing.assert_array_equal(getattr(b, name), getattr(a, name))
        np.testing.assert_allclose(b.visible_fraction, a.visible_fraction, atol=1e-4)
        for x, y in zip(b.masks.crops, a.masks.crops):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(b.defect_masks.origins_xyxy, a.defect_masks.origins_xyxy)
        for x, y in zip(b.defect_masks.crops, a.defect_masks.crops):
            np.testing.assert_array_equal(x, y)
    with pytest.raises(InputError, match="annotations.json"):
        load_dataset(tmp_path / "images")


def test_cli_writes_a_dataset(tmp_path, capsys):
    argv = ["--count", "3", "--objects", "2-6", "--seed", "4", "--size", "160x120", "--defect-rate", "0.5"]
    assert scenes.main([*argv, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr()
    assert "3/3 frames" in out.err and "3 frames" in out.out
    doc = json.loads((tmp_path / "a" / "annotations.json").read_text())
    assert [im["file_name"] for im in doc["images"]] == [f"images/{k:06d}.png" for k in range(3)]
    per_image = np.bincount([a["image_id"] for a in doc["annotations"]], minlength=3)
    assert ((per_image >= 2) & (per_image <= 6)).all()
    assert doc["info"]["seed"] == 4 and doc["semantic_classes"] == list(SEMANTIC_CLASSES)
    assert scenes.main([*argv, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    for rel in ("annotations.json", "images/000002.png", "labels/000002.png"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_cli_sequence(tmp_path):
    rc = scenes.main(["--count", "4", "--objects", "5", "--sequence", "--speed", "12", "--size", "160x120",
                      "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    ds = load_dataset(tmp_path)
    assert [im["frame_index"] for im in ds.images] == [0, 1, 2, 3]
    assert ds.coco["info"]["sequence"] is True


@pytest.mark.parametrize("extra, message", [
    (["--objects", "9-3"], "range A-B"),
    (["--objects", "many"], "range A-B"),
    (["--size", "12by4"], "WIDTHxHEIGHT"),
    (["--defect-rate", "2"], r"\[0, 1\]"),
    (["--count", "0"], "≥ 1"),
])
def test_cli_rejects_malformed_arguments(tmp_path, capsys, extra, message):
    argv = ["--count", "1", "--out", str(tmp_path)]
    with pytest.raises(SystemExit):
        scenes.main(argv + extra)
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize("extra, message", [
    (["--objects", "400", "--size", "64x48"], "do not fit a 64x48 frame"),
    (["--objects", "2-4", "--sequence"], "one --objects density"),
])
def test_cli_refuses_impossible_requests(tmp_path, capsys, extra, message):
    assert scenes.main(["--count", "1", "--out", str(tmp_path / "x"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_registers_as_a_subcommand(tmp_path):
    ap = argparse.ArgumentParser(prog="edgeseg")
    sub = ap.add_subparsers(dest="command", required=True)
    scenes.build_parser(sub)
    args = ap.parse_args(["scenes", "--count", "1", "--objects", "1", "--size", "64x48", "--out", str(tmp_path),
                          "--quiet"])
    assert args.func is scenes.cmd_scenes
    assert args.func(args) == 0
    assert len(load_dataset(tmp_path)) == 1
