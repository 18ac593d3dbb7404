import numpy as np
import pytest
from pycocotools import mask as coco_mask

from edgeseg.errors import InputError
from edgeseg.masks import CropMasks, lay_down, rle_to_mask


def _random_masks(seed, frame_hw=(37, 53), n=6):
    rng = np.random.default_rng(seed)
    h, w = frame_hw
    crops, origins = [], []
    for _ in range(n):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = rng.integers(x0, w + 1), rng.integers(y0, h + 1)
        crops.append(rng.random((y1 - y0, x1 - x0)) > 0.4)
        origins.append((x0, y0, x1, y1))
    return CropMasks(crops, np.array(origins), frame_hw)


@pytest.mark.parametrize("seed", range(8))
def test_rle_agrees_with_pycocotools_and_dense(seed):
    m = _random_masks(seed)
    dense = m.to_dense()
    for i in range(len(m)):
        rle = m.rle(i)
        assert sum(rle["counts"]) == 37 * 53
        np.testing.assert_array_equal(rle_to_mask(rle), dense[i])
        compressed = coco_mask.frPyObjects(rle, *rle["size"])
        np.testing.assert_array_equal(coco_mask.decode(compressed).astype(bool), dense[i])
        assert coco_mask.area(compressed) == m.areas[i]


def test_indexing_polygons_and_readonly():
    m = _random_masks(1)
    sub = m[np.array([True, False, True, False, False, True])]
    assert len(sub) == 3 and sub.crops[1] is m.crops[2]
    assert len(m[[0, 0]]) == 2
    assert not m.crops[0].flags.writeable and not m.origins_xyxy.flags.writeable
    square = CropMasks([np.ones((4, 5), bool)], np.array([[10, 20, 15, 24]]), (30, 30))
    (poly,) = square.polygons(0)
    assert poly[:, 0].min() == 10 and poly[:, 0].max() == 14 and poly[:, 1].min() == 20


def test_validation():
    with pytest.raises(InputError, match="outside the frame"):
        CropMasks([np.ones((4, 4), bool)], np.array([[8, 8, 12, 12]]), (10, 10))
    with pytest.raises(InputError, match="expected bool \\(4, 4\\)"):
        CropMasks([np.ones((3, 4), bool)], np.array([[0, 0, 4, 4]]), (10, 10))


def _lay_down_slowly(dense, order, need):
    """The obvious version: full frames, one mask at a time."""
    taken = np.zeros(dense.shape[1:], bool)
    label = np.zeros(dense.shape[1:], np.int32)
    out = np.full(len(dense), -1)
    for i in order:
        free = dense[i] & ~taken
        if free.sum() > 0 and free.sum() >= need[i]:
            taken |= dense[i]
            label[free] = label.max() + 1
            out[i] = free.sum()
    return out, label


@pytest.mark.parametrize("seed", range(6))
def test_lay_down_matches_the_obvious_version(seed):
    m = _random_masks(seed, n=12)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(m))[:10]  # two masks left out: never kept
    need = rng.uniform(0, 0.8, len(m)) * m.areas
    want, want_label = _lay_down_slowly(m.to_dense(), order, need)
    np.testing.assert_array_equal(lay_down(m, order, need), want)
    label = np.zeros(m.frame_hw, np.int32)
    np.testing.assert_array_equal(lay_down(m, order, need, label), want)
    np.testing.assert_array_equal(label, want_label)
    assert (want >= 0).sum() < len(order)  # some masks are dropped, so the test can tell


def test_lay_down_drops_empty_and_covered_masks():
    block = np.ones((4, 4), bool)
    m = CropMasks([block, block[:2], np.zeros((3, 3), bool), block], np.array(
        [[0, 0, 4, 4], [0, 0, 4, 2], [5, 5, 8, 8], [2, 0, 6, 4]]), (10, 10))
    # 1 lies wholly under 0; 2 is empty; 3 half under 0 keeps 8 free pixels.
    np.testing.assert_array_equal(lay_down(m, [0, 1, 2, 3], np.zeros(4)), [16, -1, -1, 8])
    np.testing.assert_array_equal(lay_down(m, [0, 1, 2, 3], np.full(4, 9.0)), [16, -1, -1, -1])
    np.testing.assert_array_equal(lay_down(CropMasks.empty((5, 5)), [], np.zeros(0)), np.zeros(0))
