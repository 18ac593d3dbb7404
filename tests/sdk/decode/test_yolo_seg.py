import numpy as np
import pytest

from edgeseg.bench.planted import plant_yolo_seg
from edgeseg.decode import InstanceOptions, decode_yolo_seg
from edgeseg.errors import DecodeError, InputError
from edgeseg.preprocess import make_transform
from edgeseg.spec import ResizeMode
from tests.sdk.decode import reference

NC, NM = 3, 8
SMALL = dict(frame_hw=(240, 400), input_hw=(160, 160), nc=NC, nm=NM)


def _decode(pred, protos, t, **opts):
    return decode_yolo_seg(protos=protos, t=t, nc=NC, nm=NM, opts=InstanceOptions(**opts), predictions=pred)


def _match_reference(result, ref):
    assert len(result) == len(ref)
    order = np.argsort(-result.scores, kind="stable")
    for i, (fb, s, c, mask) in zip(order, ref):
        assert result.class_id[i] == c
        assert result.scores[i] == pytest.approx(s, rel=1e-5)
        np.testing.assert_allclose(result.xyxy[i], fb, atol=1e-2)
        got = result.masks.full(i)
        assert reference.mask_iou(got, mask) >= 0.99, (i, reference.mask_iou(got, mask))


@pytest.mark.parametrize("n", [0, 1, 7, 40])
@pytest.mark.parametrize("frame_hw", [(240, 400), (251, 397), (400, 240), (160, 160)])
def test_matches_slow_reference(n, frame_hw):
    # (240, 400) and (160, 160) are integer multiples of the prototype grid (the resize path),
    # the others are not (the warpAffine path).
    p = plant_yolo_seg(n, seed=n, **{**SMALL, "frame_hw": frame_hw})
    result = _decode(p.predictions, p.protos, p.transform)
    ref = reference.yolo_seg(p.predictions, p.protos, p.transform, NC, NM)
    assert len(result) == n
    _match_reference(result, ref)


@pytest.mark.parametrize("n", [0, 1, 25])
def test_split_layout_equals_concatenated(n):
    p = plant_yolo_seg(n, seed=3, **SMALL)
    a = _decode(p.predictions, p.protos, p.transform)
    s = p.split(NC)
    b = decode_yolo_seg(protos=s["protos"], t=p.transform, nc=NC, nm=NM, opts=InstanceOptions(),
                        boxes=s["boxes"], scores=s["scores"], coefficients=s["coefficients"])
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.class_id, b.class_id)
    assert all(np.array_equal(x, y) for x, y in zip(a.masks, b.masks))


def test_transposed_and_batchless_layouts_accepted():
    p = plant_yolo_seg(5, seed=1, **SMALL)
    a = _decode(p.predictions, p.protos, p.transform)
    b = _decode(p.predictions[0].T, p.protos[0], p.transform)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)


def test_planted_boxes_come_back_in_frame_coordinates():
    p = plant_yolo_seg(12, seed=5, **SMALL)
    r = _decode(p.predictions, p.protos, p.transform)
    want = p.transform.to_frame_xyxy(p.boxes_xyxy)
    for box in want:
        assert np.abs(r.xyxy - box).max(axis=1).min() < 1e-3


def test_nan_and_inf_never_become_instances():
    p = plant_yolo_seg(4, seed=2, **SMALL)
    pred = p.predictions.copy()
    a = p.anchors
    pred[0, 4, a[0]] = np.nan
    pred[0, 4:4 + NC, a[1]] = np.nan
    pred[0, 0, a[2]] = np.inf
    pred[0, 2, a[3]] = np.nan
    r = _decode(pred, p.protos, p.transform)
    assert np.isfinite(r.xyxy).all() and np.isfinite(r.scores).all()
    # Anchors 0 and 1 lose their score (the duplicates take over); 2 and 3 lose their box.
    assert len(r) == 4
    assert np.isclose(r.scores[:, None], [0.9, 0.8]).any(axis=1).all()


def test_zero_candidates_gives_typed_empty_result():
    p = plant_yolo_seg(3, seed=2, **SMALL)
    r = _decode(p.predictions, p.protos, p.transform, conf=0.95)
    assert len(r) == 0
    assert r.xyxy.shape == (0, 4) and r.xyxy.dtype == np.float32
    assert r.class_id.dtype == np.int32 and r.areas.shape == (0,)
    assert r.label_map().shape == p.transform.frame_hw and r.to_coco() == []


def test_thousands_of_candidates_are_bounded_by_max_det():
    rng = np.random.default_rng(0)
    t = make_transform((240, 400), (160, 160), ResizeMode.LETTERBOX)
    a = 4000
    pred = np.zeros((4 + NC + NM, a), np.float32)
    pred[0] = rng.uniform(4, 156, a)
    pred[1] = rng.uniform(36, 124, a)  # inside the content rows 32..128
    pred[2:4] = rng.uniform(2, 6, (2, a))
    pred[4:4 + NC] = rng.uniform(0.3, 1.0, (NC, a))
    pred[4 + NC:] = rng.standard_normal((NM, a))
    protos = rng.standard_normal((NM, 40, 40)).astype(np.float32)
    r = _decode(pred, protos, t, max_det=250)
    assert len(r) == 250
    assert np.all(np.diff(r.scores) <= 0)


def test_boxes_outside_on_border_and_degenerate():
    t = make_transform((240, 400), (160, 160), ResizeMode.LETTERBOX)  # content rows 32..128
    boxes = [
        (80, 10, 20, 10),  # wholly in the top padding: dropped
        (2, 80, 10, 20),  # crosses the left frame border: clipped
        (150, 127, 30, 6),  # crosses right and bottom borders: clipped
        (80, 80, 0, 10),  # zero width: dropped
        (80, 80, -5, 10),  # negative width: dropped
        (-500, -500, 10, 10),  # far outside: dropped
    ]
    a = len(boxes)
    pred = np.zeros((4 + NC + NM, a), np.float32)
    pred[:4] = np.array(boxes, np.float32).T
    pred[4] = 0.9
    pred[4 + NC] = 1.0  # coefficient on a constant prototype: every pixel in the box is mask
    protos = np.zeros((NM, 40, 40), np.float32)
    protos[0] = 1.0
    r = _decode(pred, protos, t)
    assert len(r) == 2
    h, w = t.frame_hw
    assert (r.xyxy[:, [0, 2]] >= 0).all() and (r.xyxy[:, [0, 2]] <= w).all()
    assert (r.xyxy[:, [1, 3]] >= 0).all() and (r.xyxy[:, [1, 3]] <= h).all()
    assert (r.areas > 0).all()
    # A constant mask fills its crop exactly.
    for crop in r.masks:
        assert crop.all()


def test_class_aware_and_agnostic_nms():
    t = make_transform((160, 160), (160, 160), ResizeMode.LETTERBOX)
    pred = np.zeros((4 + NC + NM, 2), np.float32)
    pred[:4] = [[50, 50], [50, 50], [20, 20], [20, 20]]
    pred[4, 0] = 0.9
    pred[5, 1] = 0.8
    protos = np.ones((NM, 40, 40), np.float32)
    assert len(_decode(pred, protos, t)) == 2
    assert len(_decode(pred, protos, t, class_agnostic=True)) == 1


def test_wrong_shapes_raise_decode_error():
    p = plant_yolo_seg(1, **SMALL)
    with pytest.raises(DecodeError, match="expected \\(16, A\\)"):
        decode_yolo_seg(protos=p.protos, t=p.transform, nc=NC + 1, nm=NM, opts=InstanceOptions(),
                        predictions=p.predictions)
    with pytest.raises(DecodeError, match="prototype channels"):
        decode_yolo_seg(protos=p.protos[:, :4], t=p.transform, nc=NC, nm=NM, opts=InstanceOptions(),
                        predictions=p.predictions)
    with pytest.raises(DecodeError, match="expected `predictions`"):
        decode_yolo_seg(protos=p.protos, t=p.transform, nc=NC, nm=NM, opts=InstanceOptions())


def _crowded(rng, a: int, min_wh: float) -> np.ndarray:
    """(4 + NC + NM, a) predictions: random boxes of sides min_wh..40 in a 160×160 input, random scores."""
    pred = np.zeros((4 + NC + NM, a), np.float32)
    pred[0:2] = rng.uniform(20, 140, (2, a))
    pred[2:4] = rng.uniform(min_wh, 40, (2, a))
    pred[4:4 + NC] = rng.uniform(0, 1, (NC, a))
    return pred


def _assert_same_boxes(r, ref) -> None:
    assert len(r) == len(ref)
    got = sorted(map(tuple, np.round(r.xyxy, 3)))
    want = sorted(tuple(np.round(np.asarray(b, np.float32), 3)) for b, *_ in ref)
    np.testing.assert_allclose(got, want, atol=2e-3)


def test_nms_matches_reference_on_crowded_candidates():
    t = make_transform((160, 160), (160, 160), ResizeMode.LETTERBOX)
    pred = _crowded(np.random.default_rng(7), 300, 10)
    protos = np.ones((NM, 40, 40), np.float32)
    _assert_same_boxes(_decode(pred, protos, t, iou=0.5), reference.yolo_seg(pred, protos, t, NC, NM, iou=0.5))


def _two_parts_one_box(coef_b, class_b=1):
    """Two candidates with boxes of IoU 0.91: a (class 0, score 0.9) masks the band y < 80, b (class
    `class_b`, 0.8) uses coef_b."""
    t = make_transform((160, 160), (160, 160), ResizeMode.LETTERBOX)
    pred = np.zeros((4 + NC + NM, 2), np.float32)
    pred[:4] = [[80, 80], [80, 84], [80, 80], [80, 88]]
    pred[4, 0], pred[4 + class_b, 1] = 0.9, 0.8
    protos = np.zeros((NM, 40, 40), np.float32)
    protos[0, :20], protos[0, 20:] = 5, -5  # channel 0: top half on
    protos[1] = -protos[0]  # channel 1: bottom half on
    pred[4 + NC, 0] = 1
    pred[4 + NC:, 1] = coef_b
    return pred, protos, t


def test_cross_class_mask_iou_keeps_a_part_whose_box_another_shares():
    # b's mask is the bottom half: boxes overlap (IoU 0.91), pixels do not → both kept with cross_class_mask_iou.
    pred, protos, t = _two_parts_one_box(np.eye(NM)[1])
    assert len(_decode(pred, protos, t, class_agnostic=True)) == 1
    r = _decode(pred, protos, t, class_agnostic=True, cross_class_mask_iou=0.5)
    assert len(r) == 2 and sorted(r.class_id.tolist()) == [0, 1]
    # Of one class, the boxes alone decide: b is suppressed whatever its pixels.
    pred, protos, t = _two_parts_one_box(np.eye(NM)[1], class_b=0)
    assert len(_decode(pred, protos, t, class_agnostic=True, cross_class_mask_iou=0.5)) == 1
    # b's mask is the top half too: a duplicate, suppressed either way.
    pred, protos, t = _two_parts_one_box(np.eye(NM)[0])
    assert len(_decode(pred, protos, t, class_agnostic=True, cross_class_mask_iou=0.5)) == 1
    # The mask test only ever removes suppressions: boxes under `iou` are never compared.
    assert len(_decode(pred, protos, t, class_agnostic=True, iou=0.95, cross_class_mask_iou=0.5)) == 2


def _crowded_with_masks(seed):
    """200 crowded candidates of two classes with random mask coefficients and prototypes."""
    rng = np.random.default_rng(seed)
    t = make_transform((160, 160), (160, 160), ResizeMode.LETTERBOX)
    pred = _crowded(rng, 200, 2)
    pred[4 + NC:] = rng.normal(0, 1, (NM, 200))
    return pred, rng.normal(0, 1, (NM, 40, 40)).astype(np.float32), t


def test_mask_iou_gates_pairs_of_any_class_and_sure_iou_overrides_it():
    # b (one class with a) masks the bottom half: boxes overlap by IoU 0.91, pixels do not.
    pred, protos, t = _two_parts_one_box(np.eye(NM)[1], class_b=0)
    assert len(_decode(pred, protos, t, class_agnostic=True, cross_class_mask_iou=0.5)) == 1
    assert len(_decode(pred, protos, t, class_agnostic=True, mask_iou=0.5)) == 2
    assert len(_decode(pred, protos, t, mask_iou=0.5)) == 2  # class-aware NMS: its one-class pairs too
    # Boxes overlapping above sure_iou suppress whatever the masks: 0.91 > 0.9, not > 0.95.
    assert len(_decode(pred, protos, t, class_agnostic=True, mask_iou=0.5, sure_iou=0.9)) == 1
    assert len(_decode(pred, protos, t, class_agnostic=True, mask_iou=0.5, sure_iou=0.95)) == 2
    # A duplicate (same pixels) is suppressed by its masks either way.
    pred, protos, t = _two_parts_one_box(np.eye(NM)[0], class_b=0)
    assert len(_decode(pred, protos, t, class_agnostic=True, mask_iou=0.5, sure_iou=0.95)) == 1


def test_sure_same_class_leaves_pairs_of_two_classes_to_the_masks():
    kw = dict(class_agnostic=True, mask_iou=0.5, sure_iou=0.9, sure_same_class=True)
    pred, protos, t = _two_parts_one_box(np.eye(NM)[1])  # two classes, one box, two halves: both kept
    r = _decode(pred, protos, t, **kw)
    assert len(r) == 2 and sorted(r.class_id.tolist()) == [0, 1]
    assert len(_decode(pred, protos, t, **{**kw, "sure_same_class": False})) == 1
    pred, protos, t = _two_parts_one_box(np.eye(NM)[1], class_b=0)  # one class: the box is sure
    assert len(_decode(pred, protos, t, **kw)) == 1
    pred, protos, t = _two_parts_one_box(np.eye(NM)[0])  # two classes, same pixels: the masks suppress
    assert len(_decode(pred, protos, t, **kw)) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_iou_and_sure_iou_nms_match_reference_on_crowded_candidates(seed):
    pred, protos, t = _crowded_with_masks(seed)
    counts = set()
    for agnostic, cross, sure, same in ((True, None, 0.5, False), (False, None, 0.5, False), (True, 0.3, None, False),
                                        (True, 0.3, 0.5, False), (True, None, 0.5, True)):
        kw = dict(iou=0.3, cross_class_mask_iou=cross, sure_iou=sure, sure_same_class=same)
        if cross is None:
            kw["mask_iou"] = 0.3
        r = _decode(pred, protos, t, class_agnostic=agnostic, **kw)
        _assert_same_boxes(r, reference.yolo_seg(pred, protos, t, NC, NM, agnostic=agnostic, **kw))
        counts.add(len(r))
    assert len(counts) > 1  # the options change the answer on these candidates


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_class_mask_iou_nms_matches_reference_on_crowded_candidates(seed):
    pred, protos, t = _crowded_with_masks(seed)
    for agnostic in (False, True):
        r = _decode(pred, protos, t, iou=0.3, class_agnostic=agnostic, cross_class_mask_iou=0.3)
        ref = reference.yolo_seg(pred, protos, t, NC, NM, iou=0.3, agnostic=agnostic, cross_class_mask_iou=0.3)
        _assert_same_boxes(r, ref)
        # Class-aware NMS never compares two classes, so the option only changes class-agnostic NMS.
        plain = _decode(pred, protos, t, iou=0.3, class_agnostic=agnostic)
        assert len(r) > len(plain) if agnostic else len(r) == len(plain)


def _box_in_box(score_b, coef_a, coef_b):
    """Two candidates of one class: a (0.9) boxes x 40..120, y 40..120; b (score_b) boxes the top 32 rows of
    it (box IoU 0.4: NMS at 0.5 keeps both). Prototype channels (on inside their rows, every column):
    0 rows 40..120, 1 rows 40..72, 2 rows 72..120; coef_a / coef_b pick one for each."""
    t = make_transform((160, 160), (160, 160), ResizeMode.LETTERBOX)
    pred = np.zeros((4 + NC + NM, 2), np.float32)
    pred[:4] = [[80, 80], [80, 56], [80, 80], [80, 32]]
    pred[4] = 0.9, score_b
    pred[4 + NC + coef_a, 0] = pred[4 + NC + coef_b, 1] = 1
    protos = np.full((NM, 40, 40), -5.0, np.float32)
    protos[0, 10:30], protos[1, 10:18], protos[2, 18:30] = 5, 5, 5
    return pred, protos, t


def test_claim_share_drops_a_detection_whose_pixels_a_better_one_took():
    pred, protos, t = _box_in_box(0.8, 0, 0)  # b's mask lies inside a's
    assert len(_decode(pred, protos, t, iou=0.5)) == 2
    r = _decode(pred, protos, t, iou=0.5, claim_share=0.2)
    assert len(r) == 1 and r.scores[0] == pytest.approx(0.9)
    assert len(_decode(pred, protos, t, iou=0.5, claim_share=0.0)) == 1  # nothing free at all: dropped
    pred, protos, t = _box_in_box(0.8, 2, 1)  # a masks its bottom 48 rows, b the top 32: both kept
    assert len(_decode(pred, protos, t, iou=0.5, claim_share=0.2)) == 2


def test_rescue_conf_keeps_a_low_scored_candidate_only_where_it_adds_pixels():
    pred, protos, t = _box_in_box(0.2, 2, 1)  # b (80 × 32 px) masks pixels a (80 × 48) does not
    assert len(_decode(pred, protos, t, iou=0.5, conf=0.4, claim_share=0.2)) == 1  # below conf
    r = _decode(pred, protos, t, iou=0.5, conf=0.4, claim_share=0.2, rescue_conf=0.1)
    assert len(r) == 2 and r.scores.min() == pytest.approx(0.2)
    # The free pixels must also be claim_share of a confident detection's mask: 2560 < 0.7 × 3840.
    assert len(_decode(pred, protos, t, iou=0.5, conf=0.4, claim_share=0.7, rescue_conf=0.1)) == 1
    assert len(_decode(pred, protos, t, iou=0.5, conf=0.4, claim_share=0.6, rescue_conf=0.1)) == 2
    pred, protos, t = _box_in_box(0.2, 0, 1)  # a's mask takes b's pixels: not rescued
    assert len(_decode(pred, protos, t, iou=0.5, conf=0.4, claim_share=0.2, rescue_conf=0.1)) == 1
    # Without a confident detection nothing is rescued: there is nothing for a part to hide under.
    pred[4, 0] = 0.3
    assert len(_decode(pred, protos, t, iou=0.5, conf=0.4, claim_share=0.2, rescue_conf=0.1)) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_claim_and_rescue_match_reference_on_crowded_candidates(seed):
    pred, protos, t = _crowded_with_masks(seed)
    counts = set()
    for share, rescue in ((None, None), (0.3, None), (0.3, 0.2), (0.6, 0.1)):
        kw = dict(conf=0.5, iou=0.3, mask_iou=0.3, sure_iou=0.6, claim_share=share, rescue_conf=rescue)
        r = _decode(pred, protos, t, class_agnostic=True, **kw)
        _assert_same_boxes(r, reference.yolo_seg(pred, protos, t, NC, NM, agnostic=True, **kw))
        counts.add(len(r))
    assert len(counts) == 4  # each setting changes the answer on these candidates


def test_rescue_options_are_checked():
    with pytest.raises(InputError, match="needs claim_share"):
        InstanceOptions(conf=0.4, rescue_conf=0.1)
    with pytest.raises(InputError, match="rescue_conf"):
        InstanceOptions(conf=0.4, claim_share=0.2, rescue_conf=0.4)
    with pytest.raises(InputError, match="claim_share"):
        InstanceOptions(claim_share=1.5)
    assert InstanceOptions(conf=0.4, claim_share=0.2, rescue_conf=0.1).min_score == 0.1
    assert InstanceOptions(conf=0.4).min_score == 0.4
