"""`edgeseg eval MODEL --data DIR`: accuracy of any model on a folder of images with ground truth.

The folder holds `annotations.json` (COCO: images with `file_name`, categories, instance annotations with
RLE or polygon segmentation) and, for semantic models, a PNG label map per image (`label_file` on the
image entry, or `labels/<image stem>.png`). `edgeseg scenes` writes exactly this; so can any tool.

Semantic: mIoU and per-class IoU over the model's classes. Dataset classes are matched to the model's by
name (`semantic_classes` in annotations.json, or `--label-names`), with the aliases of the synthetic
scenes (belt → background, scratch/spot → defect) when names differ; unmatched classes are ignored.
Instance: COCO-style mask AP50 and AP50-95, count exact rate (with its 95 % interval: 100 frames cannot tell
0.90 from 0.93) and count errors, also per object-count bin; box AP50 and AP50-95 against the boxes the model
claims to give (its spec's box_extent): an annotation's `bbox` (the visible pixels), or its `amodal_bbox` (the
whole object, as `edgeseg scenes` writes it) for a model of whole-object boxes, each clipped to the frame as the
decoder clips its own (`box_truth` says which; `bbox` where any annotation of the data lacks `amodal_bbox`);
`--errors DIR` also writes which parts were missed or added in which frame (see edgeseg.bench.errors).
Parts barely in view are ignored (`--min-visible F`, default 0.4, `off` to count every part): where an
annotation says how much of its part is in view (`visible_fraction`, as `edgeseg scenes` writes it) and that is
under F, the part is neither to be found nor wrong to find (COCO's ignored ground truth), and a frame's count is
exact anywhere from its parts to find to all its parts (count errors are the distance to that range; bins go by
the parts to find). Still scenes never draw such parts (they show at least 40 % of themselves); a `--sequence`
clip does, at its edges, where parts enter and leave the view: slivers no model is expected to count. `--errors`
applies the same rule (ignored parts are not listed as missed).
`SceneSet` offers synthetic scenes made in memory through the same interface, for `evaluate` in scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edgeseg.bench.errors import BOXED_IOU, ErrorReport
from edgeseg.cli.commands import (add_decode_options, add_model_options, command_parser, decode_options,
                                  fraction_or_off, run)
from edgeseg.bench.metrics import ConfusionIoU, MaskAP, count_errors
from edgeseg.bench.scenes import CLASS_NAMES, SEMANTIC_CLASSES, Scene, SceneOptions, make_scene
from edgeseg.cli.progress import Progress
from edgeseg.errors import InputError
from edgeseg.masks import CropMasks, crop_from_rle
from edgeseg.results import InstanceResult, SemanticResult
from edgeseg.spec import BoxExtent

# How the synthetic scenes' semantic classes map onto a model trained with merged classes.
CLASS_ALIASES = {"belt": "background", "scratch": "defect", "spot": "defect"}
MIN_VISIBLE = SceneOptions.min_visible_fraction  # parts showing less of themselves are ignored (still scenes: none)
# Object-count bins reported separately (the targets are per bin).
COUNT_BINS = ((0, 50), (51, 99), (100, 100), (101, 199), (200, 200), (201, 10_000))


class GroundTruth:
    """COCO annotations (+ label maps) of a folder, read lazily per image."""

    def __init__(self, root: str | Path, annotations: str | Path | None = None) -> None:
        self.root = Path(root)
        path = Path(annotations) if annotations else self.root / "annotations.json"
        if not path.is_file():
            raise InputError(f"{self.root}: expected {path.name} (COCO annotations) in the data folder")
        try:
            self.coco = json.loads(path.read_text())
        except ValueError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        self.images = sorted(self.coco.get("images", []), key=lambda im: im["id"])
        if not self.images:
            raise InputError(f"{path}: lists no images")
        cats = sorted(self.coco.get("categories", []), key=lambda c: c["id"])
        self.category_ids = [c["id"] for c in cats]
        self.category_names = tuple(c["name"] for c in cats)
        self.semantic_classes = tuple(self.coco.get("semantic_classes", ()))
        self._anns: dict[int, list[dict]] = {im["id"]: [] for im in self.images}
        for a in self.coco.get("annotations", []):
            if not a.get("iscrowd", 0):
                self._anns.setdefault(a["image_id"], []).append(a)

    def __len__(self) -> int:
        return len(self.images)

    def image(self, i: int) -> np.ndarray:
        path = self.root / self.images[i]["file_name"]
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise InputError(f"{path}: cannot read this image")
        return frame

    def label_map(self, i: int) -> np.ndarray:
        im = self.images[i]
        rel = im.get("label_file") or f"labels/{Path(im['file_name']).stem}.png"
        labels = cv2.imread(str(self.root / rel), cv2.IMREAD_UNCHANGED)
        if labels is None:
            raise InputError(f"{self.root / rel}: cannot read the label map for {im['file_name']}")
        if labels.ndim != 2:
            raise InputError(f"{self.root / rel}: expected a single-channel label PNG, got shape {labels.shape}")
        return labels

    def instances(self, i: int) -> tuple[CropMasks, np.ndarray]:
        """(masks, category index into `category_names`) of image i."""
        im = self.images[i]
        hw = (int(im["height"]), int(im["width"]))
        crops, origins, cls = [], [], []
        index = {cid: k for k, cid in enumerate(self.category_ids)}
        for a in self._anns.get(im["id"], []):
            crop, origin = _decode_segmentation(a, hw)
            crops.append(crop)
            origins.append(origin)
            cls.append(index[a["category_id"]])
        return CropMasks(crops, np.array(origins, np.int32).reshape(-1, 4), hw), np.array(cls, np.int32)

    def boxes(self, i: int, whole: bool) -> np.ndarray:
        """(G, 4) float64 xyxy of image i's instances, in the order of `instances`, clipped to the frame: each
        annotation's `amodal_bbox` if `whole` (see `has_whole_boxes`), else its `bbox`."""
        im = self.images[i]
        key = "amodal_bbox" if whole else "bbox"
        xywh = np.array([a[key] for a in self._anns.get(im["id"], [])], np.float64).reshape(-1, 4)
        return _clip_xyxy(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1),
                          (int(im["height"]), int(im["width"])))

    @property
    def has_whole_boxes(self) -> bool:
        """Every instance annotation gives its whole-object box (`amodal_bbox`)."""
        return all("amodal_bbox" in a for anns in self._anns.values() for a in anns)

    def visible_fractions(self, i: int) -> np.ndarray | None:
        """(G,) share of each instance of image i in view (its `visible_fraction`, as `edgeseg scenes` writes it),
        in the order of `instances`; None where an annotation does not say."""
        anns = self._anns.get(self.images[i]["id"], [])
        if any("visible_fraction" not in a for a in anns):
            return None
        return np.array([float(a["visible_fraction"]) for a in anns], np.float32)


class SceneSet:
    """Synthetic scenes made on demand, read through GroundTruth's interface, so `evaluate` scores a model on
    frames that never touch the disk (the training script's held-out check). `frames`: (options, seed) per frame;
    the last frame made is kept, since `evaluate` asks for its image and then its truth."""

    def __init__(self, frames: Sequence[tuple[SceneOptions, int | np.random.SeedSequence]]) -> None:
        self.frames = list(frames)
        self.images = [{"id": k, "file_name": f"scene_{k:06d}"} for k in range(len(self.frames))]
        self.category_names = CLASS_NAMES
        self.semantic_classes = SEMANTIC_CLASSES
        self._last: tuple[int, Scene] | None = None

    def __len__(self) -> int:
        return len(self.frames)

    def scene(self, i: int) -> Scene:
        if self._last is None or self._last[0] != i:
            opts, seed = self.frames[i]
            self._last = (i, make_scene(opts, seed=seed))
        return self._last[1]

    def image(self, i: int) -> np.ndarray:
        return self.scene(i).image

    def label_map(self, i: int) -> np.ndarray:
        return self.scene(i).truth.semantic

    def instances(self, i: int) -> tuple[CropMasks, np.ndarray]:
        truth = self.scene(i).truth
        return truth.masks, truth.class_id

    def boxes(self, i: int, whole: bool) -> np.ndarray:
        truth = self.scene(i).truth
        return _clip_xyxy(np.asarray(truth.amodal_xyxy if whole else truth.xyxy, np.float64), truth.semantic.shape)

    has_whole_boxes = True

    def visible_fractions(self, i: int) -> np.ndarray:
        return self.scene(i).truth.visible_fraction


def _clip_xyxy(xyxy: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = hw
    return np.clip(xyxy.reshape(-1, 4), 0, [w, h, w, h])


def _decode_segmentation(ann: dict, hw: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    h, w = hw
    x, y, bw, bh = ann["bbox"]
    seg = ann["segmentation"]
    if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
        box = (int(round(x)), int(round(y)), int(round(x + bw)), int(round(y + bh)))
        return crop_from_rle(seg, box), box
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + bw)) + 1, w), min(int(np.ceil(y + bh)) + 1, h)
    crop = np.zeros((y1 - y0, x1 - x0), np.uint8)
    if isinstance(seg, list):  # polygons
        for poly in seg:
            pts = np.round(np.asarray(poly, np.float64).reshape(-1, 2) - (x0, y0)).astype(np.int32)
            cv2.fillPoly(crop, [pts], 1)
        return crop.astype(bool), (x0, y0, x1, y1)
    try:
        from pycocotools import mask as coco_mask
    except ImportError:
        raise InputError("compressed RLE needs pycocotools (pip install pycocotools)") from None
    full = coco_mask.decode(seg).astype(bool)
    return np.ascontiguousarray(full[y0:y1, x0:x1]), (x0, y0, x1, y1)


def class_lut(dataset_names: tuple[str, ...], model_names: tuple[str, ...]) -> np.ndarray:
    """Dataset label value → model class id (255: ignored), matching by name, then by scene aliases."""
    lut = np.full(256, 255, np.uint8)
    if not dataset_names:  # labels already use the model's class ids
        lut[:len(model_names)] = np.arange(len(model_names))
        return lut
    index = {name: k for k, name in enumerate(model_names)}
    for v, name in enumerate(dataset_names):
        k = index.get(name, index.get(CLASS_ALIASES.get(name, ""), None))
        if k is not None:
            lut[v] = k
    return lut


def evaluate(seg, data: GroundTruth | SceneSet, *, limit: int | None = None, progress: bool = True,
             errors: ErrorReport | None = None, min_visible: float | None = MIN_VISIBLE) -> dict:
    """Run the segmenter over the data and return the figures (plain keys, see the module docstring).
    errors: collects the instance frames with a missed or an extra part. min_visible: instance parts whose
    annotated share in view is under this are ignored (None: none are)."""
    n = len(data) if limit is None else min(limit, len(data))
    names = seg.spec.class_names
    task = seg.spec.task.value
    conf = ConfusionIoU(len(names))
    ap = MaskAP(len(names))
    box_ap = MaskAP(len(names), kind="box")
    whole = seg.spec.box_extent == BoxExtent.WHOLE and task == "instance" and data.has_whole_boxes
    pred_counts: list[int] = []
    gt_counts: list[int] = []  # parts to find
    all_counts: list[int] = []  # with the parts to ignore
    lut = None
    if task == "instance":
        missing = [c for c in data.category_names if c not in names]
        if missing:
            raise InputError(f"dataset categories {missing} are not classes of the model ({list(names)})")
        to_model = np.array([names.index(c) for c in data.category_names] or [0], np.int32)
    elapsed = []
    with Progress(n, "frames", enabled=progress) as bar:
        for i in range(n):
            frame = data.image(i)
            result = seg(frame)
            elapsed.append(result.timings.total_ms)
            if isinstance(result, SemanticResult):
                if lut is None:
                    lut = class_lut(data.semantic_classes, names)
                conf.add(result.class_map, lut[data.label_map(i)], ignore=255)
            elif isinstance(result, InstanceResult):
                gt_masks, gt_cls = data.instances(i)
                visible = data.visible_fractions(i)
                ignore = (np.zeros(len(gt_masks), bool) if visible is None or min_visible is None
                          else visible < min_visible)
                ap.add(result.masks, result.scores, result.class_id, gt_masks, to_model[gt_cls], gt_ignore=ignore)
                gt_boxes = data.boxes(i, whole)
                box_ap.add(result.xyxy, result.scores, result.class_id, gt_boxes, to_model[gt_cls], gt_ignore=ignore)
                pred_counts.append(len(result))
                gt_counts.append(int(np.sum(~ignore)))
                all_counts.append(len(gt_masks))
                if errors is not None:
                    errors.add(data.images[i]["file_name"], frame, result, gt_masks, gt_cls, data.category_names,
                               visible=visible, gt_boxes=gt_boxes, ignore=ignore)
            bar.update()
    out: dict = {"task": task, "frames": n, "mean_total_ms": float(np.mean(elapsed)) if elapsed else None}
    if task == "semantic":
        per = conf.per_class_iou()
        out.update({"miou": conf.miou(), "pixel_accuracy": conf.pixel_accuracy(),
                    "per_class_iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(names, per)}})
    else:
        s = ap.summary()
        out.update({"mask_ap50": s["mask_ap50"], "mask_ap": s["mask_ap"],
                    "per_class_ap50": dict(zip(names, s["per_class_ap50"]))})
        b = box_ap.summary()
        out.update({"box_ap50": b["box_ap50"], "box_ap": b["box_ap"], "box_truth": "amodal_bbox" if whole else "bbox"})
        out.update(count_errors(pred_counts, gt_counts, all_counts))
        out.update({"min_visible": min_visible, "parts_ignored": int(sum(all_counts) - sum(gt_counts))})
        bins = []
        for lo, hi in COUNT_BINS:
            sel = [k for k, t in enumerate(gt_counts) if lo <= t <= hi]
            if sel:
                bins.append({"objects": f"{lo}-{hi}" if lo != hi else str(lo), "frames": len(sel),
                             **count_errors([pred_counts[k] for k in sel], [gt_counts[k] for k in sel],
                                            [all_counts[k] for k in sel])})
        out["count_bins"] = bins
    return out


def print_report(fig: dict, model: str) -> None:
    print(f"{model}: {fig['frames']} frames, {fig['mean_total_ms']:.1f} ms per frame (all stages)")
    if fig["task"] == "semantic":
        print(f"  mIoU {fig['miou']:.4f}   pixel accuracy {fig['pixel_accuracy']:.4f}")
        for name, v in fig["per_class_iou"].items():
            print(f"    {name:<14} IoU {'n/a' if v is None else f'{v:.4f}'}")
        return
    print(f"  mask AP50 {fig['mask_ap50']:.4f}   mask AP50-95 {fig['mask_ap']:.4f}   "
          f"box AP50 {fig['box_ap50']:.4f}   box AP50-95 {fig['box_ap']:.4f} (against {fig['box_truth']})")
    if fig.get("parts_ignored"):
        print(f"  {fig['parts_ignored']} parts showing under {fig['min_visible'] * 100:.0f} % of themselves ignored "
              f"(--min-visible): neither to find nor wrong to find;\n  a frame's count is exact anywhere from its "
              f"parts to find to all its parts")
    lo, hi = fig["count_exact_ci95"]
    print(f"  count exact {fig['count_exact_rate']:.3f} (95 % interval {lo:.3f}-{hi:.3f})   "
          f"count MAE {fig['count_mae']:.3f}   mean relative count error {fig['count_mean_rel_error']:.4f}")
    print(f"  {'objects':>9} {'frames':>6} {'exact':>6} {'95 % interval':>13} {'MAE':>7} {'rel err':>8}")
    for b in fig["count_bins"]:
        lo, hi = b["count_exact_ci95"]
        print(f"  {b['objects']:>9} {b['frames']:>6} {b['count_exact_rate']:>6.3f} {f'{lo:.3f}-{hi:.3f}':>13} "
              f"{b['count_mae']:>7.3f} {b['count_mean_rel_error']:>8.4f}")


def cmd_eval(args: argparse.Namespace) -> int:
    from edgeseg.device_info import fingerprint
    from edgeseg.segmenter import load

    data = GroundTruth(args.data, args.annotations)
    if args.label_names:
        data.semantic_classes = tuple(s.strip() for s in args.label_names.split(","))
    with load(args.model, backend=args.backend, device=args.device, threads=args.threads) as seg:
        seg.instance = decode_options(seg.spec, args)
        report = None
        if args.errors:
            if seg.spec.task.value != "instance":
                raise InputError(f"--errors lists missed and extra parts of instance models; {args.model} is "
                                 f"a {seg.spec.task.value} model")
            report = ErrorReport(Path(args.errors), limit=args.errors_limit)
        fig = evaluate(seg, data, limit=args.limit, progress=not args.quiet, errors=report,
                       min_visible=None if args.min_visible < 0 else args.min_visible)
        fig["model"] = {"path": str(seg.path), "name": seg.spec.name, "backend": seg.backend.name,
                        "precision": seg.spec.quantization.precision.value, "decode": seg.decoding()}
    print_report(fig, args.model)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({**fig, "device": fingerprint()}, indent=2))
    if report is not None:
        path = report.write()
        print(f"  {len(report.frames)} frames with a missed or an extra part → {path} "
              f"(and images of the worst {min(len(report.frames), report.limit)})")
        c, f = report.by_centre["covered"], report.by_centre["free"]
        print(f"  missed: {c['missed']} of {c['truth']} parts whose box centre lies on another part, "
              f"{f['missed']} of the other {f['truth']}")
        c, f = report.by_pieces["pieces"], report.by_pieces["whole"]
        print(f"  missed: {c['missed']} of {c['truth']} parts seen in two or more pieces, "
              f"{f['missed']} of the other {f['truth']}")
        if any(t["truth"] for t in report.by_visible.values()):
            print("  missed, by the share of the part in view: " +
                  ", ".join(f"{t['missed']} of {t['truth']} {key}" for key, t in report.by_visible.items()))
        if report.missed:
            print(f"  of the {report.missed} missed, {report.missed_boxed_by_extra} were found with a poor mask "
                  f"(an extra detection boxes them at IoU ≥ {BOXED_IOU}): counted, with a mask that misses")
    return 0


def build_parser(sub=None) -> argparse.ArgumentParser:
    text = dict(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p = command_parser(sub, "eval", "accuracy of a model on a folder with ground truth (mIoU, mask AP, counts)", **text)
    p.add_argument("model", help="model file or a shipped model's name")
    p.add_argument("--data", required=True, help="folder with annotations.json, images and label maps")
    p.add_argument("--annotations", help="COCO file if not DATA/annotations.json")
    p.add_argument("--label-names", help="comma-separated names of the label-map values (semantic)")
    p.add_argument("--limit", type=int, help="evaluate only the first N images")
    p.add_argument("--min-visible", type=fraction_or_off, default=MIN_VISIBLE, metavar="F|off",
                   help=f"instance data: ignore parts whose annotated visible_fraction is under F, slivers at a "
                        f"clip's edges (default {MIN_VISIBLE}; off: every part counts)")
    add_model_options(p)
    add_decode_options(p)
    p.add_argument("--json", help="write the figures and the device fingerprint here")
    p.add_argument("--errors", metavar="DIR", help="instance models: write errors.json (missed and extra parts "
                   "per frame, matched at mask IoU 0.5) and side-by-side JPEGs of the worst frames here")
    p.add_argument("--errors-limit", type=int, default=20, metavar="K", help="images of at most K frames (default 20)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
