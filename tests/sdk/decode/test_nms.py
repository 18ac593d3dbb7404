import numpy as np
import pytest

from edgeseg.decode import nms as nms_module
from edgeseg.decode.nms import nms
from tests.sdk.decode import reference


def _boxes(n, seed, spread=200.0, size=(5, 60)):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, spread, (n, 2))
    wh = rng.uniform(*size, (n, 2))
    return (np.concatenate([xy, xy + wh], 1).astype(np.float32), rng.uniform(0.01, 1, n).astype(np.float32),
            rng.integers(0, 3, n))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("agnostic", [False, True])
@pytest.mark.parametrize("iou", [0.3, 0.5, 0.7])
def test_matches_greedy_reference(seed, agnostic, iou):
    xyxy, scores, cls = _boxes(300, seed)
    got = nms(xyxy, scores, None if agnostic else cls, iou, 1000)
    want = reference.nms(xyxy.tolist(), scores.tolist(), cls.tolist(), iou, 1000, agnostic=agnostic)
    assert got.tolist() == want


def test_long_chains_and_chunked_pairs_agree(monkeypatch):
    # A staircase: each box overlaps the next, so suppression alternates down a long chain.
    n = 200
    x = np.arange(n, dtype=np.float32) * 3
    xyxy = np.stack([x, np.zeros(n), x + 10, np.full(n, 10)], 1).astype(np.float32)
    scores = np.linspace(1, 0.1, n).astype(np.float32)
    want = reference.nms(xyxy.tolist(), scores.tolist(), [0] * n, 0.5, 1000)
    assert nms(xyxy, scores, None, 0.5, 1000).tolist() == want  # through the box-by-box fallback
    monkeypatch.setattr(nms_module, "_CHUNK_PAIRS", 7)
    assert nms(xyxy, scores, None, 0.5, 1000).tolist() == want  # many small pair chunks


def test_max_det_empty_and_ties():
    xyxy, scores, cls = _boxes(50, 1, spread=2000)
    assert len(nms(xyxy, scores, cls, 0.5, 7)) == 7
    assert nms(np.zeros((0, 4)), np.zeros(0), None, 0.5, 10).shape == (0,)
    same = np.array([[0, 0, 10, 10]] * 3, np.float32)
    assert nms(same, np.ones(3, np.float32), None, 0.5, 10).tolist() == [0]


def test_thousands_of_candidates_stay_linear():
    xyxy, scores, cls = _boxes(20000, 2, spread=4000, size=(5, 30))
    keep = nms(xyxy, scores, cls, 0.5, 300)
    assert len(keep) == 300 and np.all(np.diff(scores[keep]) <= 0)


def test_boxes_overlap_is_row_wise_iou_above_the_threshold():
    a, _, _ = _boxes(200, 7, spread=40.0)
    b, _, _ = _boxes(200, 8, spread=40.0)
    ious = np.array([reference.iou_xyxy(p, q) for p, q in zip(a.tolist(), b.tolist())])
    for t in (0.0, 0.3, 0.65):
        np.testing.assert_array_equal(nms_module.boxes_overlap(a, b, t), ious > t)
    assert 0 < (ious > 0.3).sum() < len(a)  # the threshold splits the pairs: the check can fail
