"""Factory-line inspection on top of results: each part's area and the defects that lie on it.

Parts come from an instance model, defects from a semantic model's class map. A defect is a connected
region of one defect class; it belongs to the one part whose mask covers most of it, and counts there with
the pixels that part covers. Predicted masks of touching parts overlap a little at their edges, so counting
every covered pixel would flag a clean part beside a scratched one (measured on the demo clip: 24 of 93
wrongly flagged parts were such spills).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeseg.errors import InputError
from edgeseg.results import InstanceResult, SemanticResult


@dataclass(frozen=True)
class PartReport:
    index: int  # row in the InstanceResult
    class_name: str
    score: float
    area_px: int
    xyxy: tuple[float, float, float, float]
    defect_px: dict[str, int]  # defect class name → pixels of it on this part

    @property
    def defective(self) -> bool:
        return any(v > 0 for v in self.defect_px.values())

    def to_dict(self) -> dict:
        return {"index": self.index, "class_name": self.class_name, "score": round(self.score, 4),
                "area_px": self.area_px, "xyxy": [round(v, 1) for v in self.xyxy], "defect_px": self.defect_px,
                "defective": self.defective}


def defects_per_part(parts: InstanceResult, semantic: SemanticResult, defect_classes: tuple[str, ...],
                     *, min_defect_px: int = 1) -> list[PartReport]:
    """One report per part: its area and how many pixels of each defect class lie on it (each defect region
    counted on the one part that covers most of it).

    defect_classes: names in `semantic.class_names` that are defects (e.g. ("defect",) or ("scratch", "spot")).
    min_defect_px: fewer defect pixels than this on a part count as none (noise floor).
    """
    if parts.frame_hw != semantic.frame_hw:
        raise InputError(f"parts are for a {parts.frame_hw} frame, the class map for {semantic.frame_hw}")
    ids = []
    for name in defect_classes:
        if name not in semantic.class_names:
            raise InputError(f"defect class {name!r} is not among the semantic classes {list(semantic.class_names)}")
        ids.append(semantic.class_names.index(name))
    n = len(parts)
    px = np.zeros((n, len(ids)), np.int64)
    cm = semantic.class_map
    origins = parts.masks.origins_xyxy
    for k, c in enumerate(ids):
        defect = (cm == c).view(np.uint8)
        if n == 0 or not defect.any():
            continue
        count, regions = cv2.connectedComponents(defect, connectivity=8, ltype=cv2.CV_32S)
        cover = np.zeros((n, count), np.int64)  # pixels of region j that part i's mask covers
        for i in range(n):
            x0, y0, x1, y1 = origins[i]
            cover[i] = np.bincount(regions[y0:y1, x0:x1][parts.masks.crops[i]], minlength=count)
        cover[:, 0] = 0  # label 0: no defect
        owner = cover.argmax(axis=0)  # ties: the earlier part (decoders list the best-scored first)
        np.add.at(px[:, k], owner, cover[owner, np.arange(count)])
    reports = []
    for i in range(n):
        defect_px = {name: int(v) if v >= min_defect_px else 0 for name, v in zip(defect_classes, px[i])}
        reports.append(PartReport(i, parts.class_name(int(parts.class_id[i])), float(parts.scores[i]),
                                  int(parts.areas[i]), tuple(float(v) for v in parts.xyxy[i]), defect_px))
    return reports
