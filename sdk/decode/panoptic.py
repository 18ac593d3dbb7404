"""Panoptic merge: a semantic map supplies "stuff", instances supply "things", one label map results.

Things are laid down best score first; each keeps only pixels no better thing took, and is dropped when
less than `overlap` of its mask stays visible. Remaining pixels take their stuff class from the semantic
map; pixels of thing classes that no instance claimed are void (0).
"""

from __future__ import annotations

import numpy as np

from edgeseg.decode.options import PanopticOptions
from edgeseg.results import InstanceResult, PanopticResult, SemanticResult


def merge_panoptic(semantic: SemanticResult, instances: InstanceResult, *, stuff: tuple[int, ...],
                   opts: PanopticOptions = PanopticOptions(),
                   class_names: tuple[str, ...] = ()) -> PanopticResult:
    h, w = semantic.frame_hw
    label = np.zeros((h, w), dtype=np.int32)
    seg_id, seg_cls, seg_thing, seg_area, seg_score = [], [], [], [], []
    next_id = 1
    origins = instances.masks.origins_xyxy
    for i in np.argsort(-instances.scores, kind="stable"):
        x0, y0, x1, y1 = origins[i]
        crop = instances.masks.crops[i]
        total = int(np.count_nonzero(crop))
        if total == 0:
            continue
        view = label[y0:y1, x0:x1]
        free = crop & (view == 0)
        kept = int(np.count_nonzero(free))
        if kept < opts.overlap * total:
            continue
        view[free] = next_id
        seg_id.append(next_id), seg_cls.append(int(instances.class_id[i])), seg_thing.append(True)
        seg_area.append(kept), seg_score.append(float(instances.scores[i]))
        next_id += 1
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
