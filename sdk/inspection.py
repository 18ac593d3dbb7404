"""Factory-line inspection on top of results: each part's area and the defects that lie on it.

Parts come from an instance model, defects from a semantic model's class map; a defect pixel belongs to
the part whose mask covers it. Work stays inside each part's crop.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """One report per part: its area and how many pixels of each defect class lie on it.

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
    cm = semantic.class_map
    reports = []
    for i in range(len(parts)):
        x0, y0, x1, y1 = parts.masks.origins_xyxy[i]
        on_part = cm[y0:y1, x0:x1][parts.masks.crops[i]]
        counts = np.bincount(on_part, minlength=max(ids, default=0) + 1) if on_part.size else np.zeros(1, int)
        defect_px = {}
        for name, c in zip(defect_classes, ids):
            n = int(counts[c]) if c < len(counts) else 0
            defect_px[name] = n if n >= min_defect_px else 0
        reports.append(PartReport(i, parts.class_name(int(parts.class_id[i])), float(parts.scores[i]),
                                  int(parts.areas[i]), tuple(float(v) for v in parts.xyxy[i]), defect_px))
    return reports
