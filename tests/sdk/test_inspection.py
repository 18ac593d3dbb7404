import numpy as np
import pytest

from edgeseg.errors import InputError
from edgeseg.inspection import defects_per_part
from edgeseg.masks import CropMasks
from edgeseg.results import InstanceResult, SemanticResult


def _parts():
    origins = np.array([[0, 0, 10, 10], [20, 0, 30, 10]])
    crops = [np.ones((10, 10), bool), np.ones((10, 10), bool)]
    crops[1][:, 5:] = False  # the right half of part 1's box is not part 1
    return InstanceResult(origins.astype(np.float32), np.array([0.9, 0.8]), np.array([0, 1]),
                          CropMasks(crops, origins, (10, 40)), (10, 40), ("nut", "washer"))


def test_defects_land_on_the_part_that_covers_them():
    cm = np.zeros((10, 40), np.uint8)
    cm[2:4, 2:5] = 2  # 6 defect pixels on part 0
    cm[5, 27:29] = 2  # outside part 1's mask (right half of its box)
    cm[5, 21] = 2  # 1 pixel on part 1
    cm[:, 35:] = 2  # on no part
    reports = defects_per_part(_parts(), SemanticResult(cm, ("background", "part", "defect")), ("defect",))
    assert [r.defect_px["defect"] for r in reports] == [6, 1]
    assert [r.defective for r in reports] == [True, True]
    assert reports[1].area_px == 50 and reports[0].class_name == "nut"
    floor = defects_per_part(_parts(), SemanticResult(cm, ("background", "part", "defect")), ("defect",),
                             min_defect_px=2)
    assert [r.defective for r in floor] == [True, False]
    assert floor[0].to_dict()["defect_px"] == {"defect": 6}


def test_a_defect_region_counts_on_the_one_part_that_covers_most_of_it():
    # Two touching parts whose predicted masks overlap on columns 8..9.
    origins = np.array([[0, 0, 10, 10], [8, 0, 18, 10]])
    parts = InstanceResult(origins.astype(np.float32), np.array([0.9, 0.8]), np.array([0, 0]),
                           CropMasks([np.ones((10, 10), bool)] * 2, origins, (10, 20)), (10, 20), ("nut",))
    cm = np.zeros((10, 20), np.uint8)
    cm[4:6, 5:10] = 2  # one scratch, 10 px: 6 only on part 0, 4 also under part 1's mask
    cm[0, 15:17] = 2  # a second region, on part 1 only
    reports = defects_per_part(parts, SemanticResult(cm, ("background", "part", "defect")), ("defect",))
    assert [r.defect_px["defect"] for r in reports] == [10, 2]
    cm = np.zeros((10, 20), np.uint8)
    cm[4:6, 5:16] = 2  # a longer scratch: part 0 covers 10 of its px, part 1 covers 16
    reports = defects_per_part(parts, SemanticResult(cm, ("background", "part", "defect")), ("defect",))
    assert [r.defect_px["defect"] for r in reports] == [0, 16]


def test_errors_and_empty():
    cm = np.zeros((10, 40), np.uint8)
    with pytest.raises(InputError, match="'scratch' is not among"):
        defects_per_part(_parts(), SemanticResult(cm, ("background", "part", "defect")), ("scratch",))
    with pytest.raises(InputError, match="frame"):
        defects_per_part(_parts(), SemanticResult(np.zeros((5, 5), np.uint8), ("a", "defect")), ("defect",))
    empty = InstanceResult.empty((10, 40))
    assert defects_per_part(empty, SemanticResult(cm, ("background", "defect")), ("defect",)) == []
