import cv2
import numpy as np
import pytest

from edgeseg.decode import SemanticOptions, decode_class_map, decode_logits
from edgeseg.errors import DecodeError
from edgeseg.preprocess import make_transform
from edgeseg.spec import ResizeMode
from tests.sdk.decode import reference


def _smooth_logits(c, h, w, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((c, h, w)).astype(np.float32)
    return np.stack([cv2.GaussianBlur(z[k], (0, 0), 1.5) for k in range(c)]) * 5


def _reference_class_map(logits, t):
    u, v = reference.frame_grid_coords(t, logits.shape[1:])
    return reference.bilinear_full(logits, u, v).argmax(axis=0)


@pytest.mark.parametrize("frame_hw,resize", [((120, 200), ResizeMode.LETTERBOX), ((200, 120), ResizeMode.LETTERBOX),
                                             ((97, 131), ResizeMode.STRETCH), ((64, 64), ResizeMode.LETTERBOX)])
@pytest.mark.parametrize("c", [2, 5, 21])
def test_logits_match_full_bilinear_upsample(frame_hw, resize, c):
    t = make_transform(frame_hw, (64, 96), resize)
    logits = _smooth_logits(c, 16, 24, seed=c)
    r = decode_logits(logits[None], t, tuple(f"c{i}" for i in range(c)))
    ref = _reference_class_map(logits, t)
    assert r.class_map.shape == frame_hw
    agreement = np.mean(r.class_map == ref)
    assert agreement >= 0.999, agreement
    for k in range(c):
        if (ref == k).sum() > 50:
            assert reference.mask_iou(r.class_map == k, ref == k) >= 0.99


def test_counts_fractions_and_confidence():
    t = make_transform((60, 80), (32, 32), ResizeMode.STRETCH)
    logits = np.zeros((3, 8, 8), np.float32)
    logits[1, :, :4] = 10  # left half class 1
    logits[2, :, 4:] = 10  # right half class 2
    r = decode_logits(logits, t, ("bg", "a", "b"), SemanticOptions(confidence=True))
    assert r.pixel_counts.tolist() == [0, 2400, 2400]
    np.testing.assert_allclose(r.area_fraction, [0, 0.5, 0.5])
    assert r.confidence.shape == (60, 80) and r.confidence.min() > 0.99
    assert r.to_dict()["classes"][1]["pixels"] == 2400


def test_nan_logits_do_not_crash():
    t = make_transform((40, 40), (32, 32), ResizeMode.STRETCH)
    logits = np.zeros((2, 8, 8), np.float32)
    logits[1] = 1
    logits[1, 2, 2] = np.nan
    r = decode_logits(logits, t)
    assert r.class_map.shape == (40, 40) and (r.class_map == 1).mean() > 0.9


def test_class_map_nearest_and_errors():
    t = make_transform((8, 8), (4, 4), ResizeMode.STRETCH)
    cm = np.array([[0, 1], [2, 3]], np.int64)
    t2 = make_transform((4, 4), (2, 2), ResizeMode.STRETCH)
    r = decode_class_map(cm[None], t2, ("a", "b", "c", "d"))
    np.testing.assert_array_equal(r.class_map, np.kron(cm, np.ones((2, 2), int)))
    with pytest.raises(DecodeError, match="outside 0..1"):
        decode_class_map(cm, t2, ("a", "b"))
    with pytest.raises(DecodeError, match="expected 2 axes"):
        decode_class_map(np.zeros((2, 3, 4, 4)), t)


def test_logits_wrong_class_count():
    t = make_transform((40, 40), (32, 32), ResizeMode.STRETCH)
    with pytest.raises(DecodeError, match="expected 3 classes"):
        decode_logits(np.zeros((4, 8, 8), np.float32), t, ("a", "b", "c"))
