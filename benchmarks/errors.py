"""Which parts an instance model missed or added, frame by frame: `edgeseg eval ... --errors DIR`.

Counts say how often a model is wrong; this says where. Predictions are matched to the truth greedily,
best score first, class-agnostic, at mask IoU ≥ 0.5 (a detection of the right part with the wrong class
still counts the part). Unmatched truth parts are "missed", unmatched predictions "extra". Each missed part
also records how well the closest prediction fits it (`best_iou`): near 0 means nothing was found there,
0.2-0.5 means a detection landed on it with a poor mask (often one covering a neighbour too), and whether
the centre of its box lies on another part's pixels (`centre_covered`: a part under the middle of another,
the hardest case for a centre-based head), and whether its visible pixels fall in two or more pieces
(`in_pieces`: a capsule seen through a nut's hole and beside it, a washer with a capsule across it; with
the shipped parts-inst on 300 frames with N ≤ 50, such parts showing less than 60 % of themselves were 2.8 %
of the parts and 59 % of the misses). errors.json also tallies, over every truth part of every frame, how
many of each kind there were and how many were missed (`by_centre`, `by_pieces`), and, where the ground truth
says how much of each part is in view (`visible_fraction`, as `edgeseg scenes` writes it), by that share
(`by_visible`: under 50 %, 50-80 %, 80 % or more; the missed parts then carry theirs too). With the shipped
parts-inst on 1000 frames with N ≤ 50 (`--seed 20261202`), parts showing under half of themselves were 9.5 % of
the parts and 47 % of the misses; of those showing 80 % or more, 10 of 16 236 were missed.

A part missed at mask IoU 0.5 may still have been found, with a poor mask: `edgeseg eval` passes the truth
boxes it scores box AP against (whole boxes for a model whose spec says `box_extent` "whole", where the data
has them), and each missed part then records the best box IoU of any prediction (`best_box_iou`) and whether
an extra prediction boxes it at IoU ≥ 0.7 (`boxed_by_extra`). Such a part costs mask AP but, as a rule, not
the count: a detection of its own counts it (unless that detection is a second one of a neighbour with the same
box). errors.json totals them (`missed_boxed_by_extra`); the rest of the misses are parts the model did not find.

Parts that `edgeseg eval` ignores (showing under `--min-visible` of themselves: slivers at a clip's edges) are
neither missed nor tallied, and a prediction on one is not extra; a prediction takes such a part only where no part
to find is left for it (COCO's rule for ignored truth). A recorded frame's `truth` is its parts to find, `ignored`
how many more there were; errors.json totals them (`ignored`), and the images outline them grey.

DIR gets errors.json (every frame with a miss or an extra) and a JPEG per frame for the worst `limit`
frames (largest count error first): truth on the left (missed parts outlined red), predictions on the
right (extras outlined red, with scores).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgeseg.bench.metrics import box_iou_matrix, crop_iou_matrix
from edgeseg.errors import InputError
from edgeseg.masks import CropMasks
from edgeseg.results import InstanceResult

MATCH_IOU = 0.5
BOXED_IOU = 0.7  # an extra prediction boxing a missed part this well found it, with a poor mask
OK, WRONG, IGNORED = (0, 200, 0), (0, 0, 255), (160, 160, 160)
JPEG_QUALITY = 90  # a 2560×720 side-by-side: ~0.5 MB, against 3.3 MB as PNG


def match(pred: InstanceResult, gt_masks: CropMasks, *, iou: float = MATCH_IOU, ignore: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth row matched by each prediction or -1 (P,), prediction matching each truth part or -1 (G,),
    IoU matrix (P, G)). ignore: (G,) bool, truth parts not to be found (COCO's ignored ground truth): a
    prediction takes one of them only where no part to find is left for it at `iou`."""
    ious = crop_iou_matrix(pred.masks, gt_masks)
    ignore = np.zeros(len(gt_masks), bool) if ignore is None else np.asarray(ignore, bool)
    pred_to_gt = np.full(len(pred), -1, np.int64)
    gt_to_pred = np.full(len(gt_masks), -1, np.int64)
    for p in np.argsort(-pred.scores, kind="stable"):
        if len(gt_masks) == 0:
            break
        free = np.where(gt_to_pred >= 0, -1.0, ious[p])
        for cand in (np.where(ignore, -1.0, free), np.where(ignore, free, -1.0)):
            g = int(np.argmax(cand))
            if cand[g] >= iou:
                pred_to_gt[p], gt_to_pred[g] = g, p
                break
    return pred_to_gt, gt_to_pred, ious


def centre_covered(masks: CropMasks) -> np.ndarray:
    """(N,) bool: the pixel at the centre of part i's box belongs to another part's (visible) mask."""
    o = masks.origins_xyxy.astype(np.int64)
    cx, cy = (o[:, 0] + o[:, 2]) // 2, (o[:, 1] + o[:, 3]) // 2
    near = ((o[None, :, 0] <= cx[:, None]) & (cx[:, None] < o[None, :, 2]) &
            (o[None, :, 1] <= cy[:, None]) & (cy[:, None] < o[None, :, 3]))
    np.fill_diagonal(near, False)
    out = np.zeros(len(o), bool)
    for i, j in zip(*np.nonzero(near)):
        out[i] |= bool(masks.crops[j][cy[i] - o[j, 1], cx[i] - o[j, 0]])
    return out


def in_pieces(masks: CropMasks) -> np.ndarray:
    """(N,) bool: part i's visible pixels form two or more 8-connected pieces."""
    return np.array([cv2.connectedComponents(np.ascontiguousarray(c, np.uint8))[0] > 2 for c in masks.crops], bool)


def _tally() -> dict[str, int]:
    return {"truth": 0, "missed": 0}


# Shares of a part in view that `by_visible` tallies separately: [lo, hi) and its key.
VISIBLE_BINS = ((0.0, 0.5, "under 50 %"), (0.5, 0.8, "50-80 %"), (0.8, float("inf"), "80 % or more"))


@dataclass
class ErrorReport:
    """Collects the frames with errors; `write` puts errors.json and the worst frames' JPEGs in `out`."""

    out: Path
    limit: int = 20
    frames: list[dict] = field(default_factory=list)
    by_centre: dict[str, dict[str, int]] = field(default_factory=lambda: {"covered": _tally(), "free": _tally()})
    by_pieces: dict[str, dict[str, int]] = field(default_factory=lambda: {"pieces": _tally(), "whole": _tally()})
    by_visible: dict[str, dict[str, int]] = field(default_factory=lambda: {key: _tally() for *_, key in VISIBLE_BINS})
    ignored: int = 0  # truth parts not to be found (`add(..., ignore=)`), over every frame
    _images: list[tuple[int, str, bytes]] = field(default_factory=list)  # (|count error|, name, JPEG), worst first

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise InputError(f"expected an image limit of 0 or more, got {self.limit}")

    def add(self, name: str, frame: np.ndarray, pred: InstanceResult, gt_masks: CropMasks, gt_class: np.ndarray,
            class_names: tuple[str, ...], visible: np.ndarray | None = None,
            gt_boxes: np.ndarray | None = None, ignore: np.ndarray | None = None) -> None:
        """visible: (G,) share of each truth part in view, where the ground truth says (else None).
        gt_boxes: (G, 4) xyxy truth boxes of the kind the model's boxes claim to be (else None).
        ignore: (G,) bool, parts not to be found (`edgeseg eval --min-visible`): never missed nor tallied, and a
        prediction on one is not extra; the frame's count is wrong only outside parts-to-find..all parts."""
        if visible is not None and len(visible) != len(gt_masks):
            raise InputError(f"{name}: {len(visible)} visible fractions for {len(gt_masks)} truth parts")
        if gt_boxes is not None and len(gt_boxes) != len(gt_masks):
            raise InputError(f"{name}: {len(gt_boxes)} truth boxes for {len(gt_masks)} truth parts")
        if ignore is not None and len(ignore) != len(gt_masks):
            raise InputError(f"{name}: {len(ignore)} ignore flags for {len(gt_masks)} truth parts")
        ignore = np.zeros(len(gt_masks), bool) if ignore is None else np.asarray(ignore, bool)
        pred_to_gt, gt_to_pred, ious = match(pred, gt_masks, ignore=ignore)
        missed = np.flatnonzero((gt_to_pred < 0) & ~ignore)
        extra = np.flatnonzero(pred_to_gt < 0)
        box_ious = None if gt_boxes is None else box_iou_matrix(pred.xyxy, gt_boxes)
        covered, pieces = centre_covered(gt_masks), in_pieces(gt_masks)
        groups = [(self.by_centre, "covered", covered), (self.by_centre, "free", ~covered),
                  (self.by_pieces, "pieces", pieces), (self.by_pieces, "whole", ~pieces)]
        if visible is not None:
            groups += [(self.by_visible, key, (visible >= lo) & (visible < hi)) for lo, hi, key in VISIBLE_BINS]
        for tally, key, sel in groups:
            tally[key]["truth"] += int((sel & ~ignore).sum())
            tally[key]["missed"] += int((sel & ~ignore & (gt_to_pred < 0)).sum())
        self.ignored += int(ignore.sum())
        if len(missed) == 0 and len(extra) == 0:
            return
        to_find = len(gt_masks) - int(ignore.sum())
        rec = {"image": name, "truth": to_find, **({"ignored": int(ignore.sum())} if ignore.any() else {}),
               "found": len(pred),
               "missed": [{"class": class_names[int(gt_class[g])], "area": int(gt_masks.areas[g]),
                           "xyxy": [int(v) for v in gt_masks.origins_xyxy[g]],
                           "best_iou": round(float(ious[:, g].max(initial=0.0)), 3),
                           "centre_covered": bool(covered[g]), "in_pieces": bool(pieces[g]),
                           **({} if visible is None else {"visible_fraction": round(float(visible[g]), 4)}),
                           **({} if box_ious is None else _boxed(box_ious[:, g], extra))}
                          for g in missed],
               "extra": [{"class": pred.class_name(int(pred.class_id[p])), "score": round(float(pred.scores[p]), 3),
                          "xyxy": [round(float(v), 1) for v in pred.xyxy[p]],
                          "best_iou": round(float(ious[p].max(initial=0.0)), 3)} for p in extra]}
        self.frames.append(rec)
        error = max(to_find - len(pred), len(pred) - len(gt_masks), 0)  # the distance to the right range
        if len(self._images) < self.limit or (self.limit and error > self._images[-1][0]):
            image = side_by_side(frame, pred, gt_masks, missed, extra, np.flatnonzero(ignore))
            jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
            self._images.append((error, name, jpeg))
            self._images.sort(key=lambda t: -t[0])
            del self._images[self.limit:]

    @property
    def missed(self) -> int:
        return sum(len(f["missed"]) for f in self.frames)

    @property
    def missed_boxed_by_extra(self) -> int:
        """Missed parts an extra prediction boxes at IoU ≥ BOXED_IOU (0 where no truth boxes were given)."""
        return sum(m.get("boxed_by_extra", False) for f in self.frames for m in f["missed"])

    def write(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        used: set[str] = set()
        for _, name, jpeg in self._images:
            stem = Path(name).stem
            if stem in used:  # same file name in two folders of the data set: keep both
                stem = f"{stem}-{len(used)}"
            used.add(stem)
            (self.out / f"{stem}.jpg").write_bytes(jpeg)
        path = self.out / "errors.json"
        path.write_text(json.dumps({"match_iou": MATCH_IOU, "frames_with_errors": len(self.frames),
                                    "missed": self.missed,
                                    "extra": sum(len(f["extra"]) for f in self.frames),
                                    "missed_boxed_by_extra": self.missed_boxed_by_extra,
                                    "ignored": self.ignored,
                                    "by_centre": self.by_centre, "by_pieces": self.by_pieces,
                                    "by_visible": self.by_visible,
                                    "frames": self.frames}, indent=1))
        return path


def _boxed(box_ious: np.ndarray, extra: np.ndarray) -> dict:
    """A missed part's box fields, from its column of the (P,) prediction-to-truth box IoUs."""
    return {"best_box_iou": round(float(box_ious.max(initial=0.0)), 3),
            "boxed_by_extra": bool(box_ious[extra].max(initial=0.0) >= BOXED_IOU)}


def _outline(image: np.ndarray, masks: CropMasks, rows: np.ndarray, color: tuple[int, int, int]) -> None:
    for i in rows:
        x0, y0, x1, y1 = masks.origins_xyxy[i]
        crop = np.ascontiguousarray(masks.crops[i], dtype=np.uint8)
        contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(int(x0), int(y0)))
        cv2.drawContours(image, contours, -1, color, 2)


def side_by_side(frame: np.ndarray, pred: InstanceResult, gt_masks: CropMasks, missed: np.ndarray,
                 extra: np.ndarray, ignored: np.ndarray | None = None) -> np.ndarray:
    """Truth (missed parts red, ignored ones grey) | predictions (extras red, scores written on them), BGR uint8.
    ignored: truth rows not to be found."""
    ignored = np.zeros(0, np.int64) if ignored is None else ignored
    truth, found = frame.copy(), frame.copy()
    _outline(truth, gt_masks, np.setdiff1d(np.arange(len(gt_masks)), np.union1d(missed, ignored)), OK)
    _outline(truth, gt_masks, ignored, IGNORED)
    _outline(truth, gt_masks, missed, WRONG)
    _outline(found, pred.masks, np.setdiff1d(np.arange(len(pred)), extra), OK)
    _outline(found, pred.masks, extra, WRONG)
    for p in range(len(pred)):
        x0, y0 = (int(round(v)) for v in pred.xyxy[p, :2])
        cv2.putText(found, f"{pred.scores[p]:.2f}", (x0 + 2, y0 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    WRONG if p in extra else OK, 1, cv2.LINE_AA)
    shown = f"truth {len(gt_masks) - len(ignored)}" + (f" (+{len(ignored)} ignored)" if len(ignored) else "")
    for image, text in ((truth, f"{shown}, missed {len(missed)}"),
                        (found, f"found {len(pred)}, extra {len(extra)}")):
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 1)
        cv2.rectangle(image, (0, 0), (tw + 12, 24), (0, 0, 0), -1)
        cv2.putText(image, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return np.hstack([truth, found])
