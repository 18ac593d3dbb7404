import numpy as np

from edgeseg.decode import PanopticOptions, merge_panoptic
from edgeseg.masks import CropMasks
from edgeseg.results import InstanceResult, SemanticResult


def _instances(boxes, scores, classes, frame_hw):
    crops = [np.ones((y1 - y0, x1 - x0), bool) for x0, y0, x1, y1 in boxes]
    return InstanceResult(np.array(boxes, np.float32), np.array(scores), np.array(classes),
                          CropMasks(crops, np.array(boxes), frame_hw), frame_hw)


def test_things_over_stuff_and_overlap_rule():
    cm = np.zeros((20, 20), np.uint8)
    cm[10:] = 1  # stuff 0 on top, stuff 1 below; class 2 is a thing
    cm[2:6, 2:6] = 2  # a thing pixel region no instance claims: void
    sem = SemanticResult(cm, ("sky", "road", "car"))
    inst = _instances([(8, 8, 14, 14), (9, 9, 14, 14), (0, 12, 4, 16)], [0.9, 0.8, 0.7], [2, 2, 2], (20, 20))
    pan = merge_panoptic(sem, inst, stuff=(0, 1), opts=PanopticOptions(overlap=0.5))
    # The second car is mostly hidden by the first: dropped. Two cars, two stuff segments.
    assert pan.is_thing.tolist() == [True, True, False, False]
    assert pan.area[:2].tolist() == [36, 16]
    lm = pan.label_map()
    assert (lm[2:6, 2:6] == 0).all()  # unclaimed thing pixels are void
    assert pan.area.sum() == np.count_nonzero(lm)
    assert pan.counts() == {"car": 2}
    assert set(np.unique(lm)) == {0, *pan.segment_id.tolist()}


def test_no_instances():
    sem = SemanticResult(np.ones((5, 5), np.uint8), ("a", "b"))
    inst = InstanceResult.empty((5, 5))
    pan = merge_panoptic(sem, inst, stuff=(0, 1))
    assert len(pan) == 1 and pan.area.tolist() == [25]
