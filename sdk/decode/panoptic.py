"""Panoptic merge: a semantic map supplies "stuff", instances supply "things", one label map results.

Things are laid down best score first; each keeps only pixels no better thing took, and is dropped when
less than `overlap` of its mask stays visible. Remaining pixels take their stuff class from the semantic
map; pixels of thing classes that no instance claimed are void (0).
"""

from __future__ import annotations

import numpy as np

from edgeseg.decode.options import PanopticOptions
from edgeseg.masks import lay_down
from edgeseg.results import InstanceResult, PanopticResult, SemanticResult


def merge_panoptic(semantic: SemanticResult, instances: InstanceResult, *, stuff: tuple[int, ...],
                   opts: PanopticOptions = PanopticOptions(),
                   class_names: tuple[str, ...] = ()) -> PanopticResult:
    h, w = semantic.frame_hw
    label = np.zeros((h, w), dtype=np.int32)
    order = np.argsort(-instances.scores, kind="stable")
    took = lay_down(instances.masks, order, opts.overlap * instances.masks.areas, label)
    things = order[took[order] >= 0]  # in the order kept: thing k wrote k + 1 into `label`
    seg_id = list(range(1, len(things) + 1))
    seg_cls = [int(c) for c in instances.class_id[things]]
    seg_thing = [True] * len(things)
    seg_area = [int(a) for a in took[things]]
    seg_score = [float(s) for s in instances.scores[things]]
    next_id = len(things) + 1
    unclaimed = label == 0
    cm = semantic.class_map
    for c in stuff:
        region = unclaimed & (cm == c)
        area = int(np.count_nonzero(region))
        if area == 0 or area < opts.min_stuff_area:
            continue
        label[region] = next_id
        seg_id.append(next_id), seg_cls.append(int(c)), seg_thing.append(False)
        seg_area.append(area), seg_score.append(1.0)
        next_id += 1
    return PanopticResult(label, np.array(seg_id, np.int32), np.array(seg_cls, np.int32),
                          np.array(seg_thing, bool), np.array(seg_area, np.int64), np.array(seg_score, np.float32),
                          tuple(class_names or semantic.class_names))
