import numpy as np
import pytest
from pycocotools import mask as coco_mask

from edgeseg.errors import InputError
from edgeseg.masks import CropMasks, rle_to_mask


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
