"""`edgeseg demo`: the factory-line demo on the shipped reference models.

Generates a short clip of parts moving along a belt (with exact ground truth), runs `parts-inst` (which
part is where) and `parts-seg` (which pixels are defects) on every frame, puts the two together (defects
per part), and writes to the output folder:
- clip.mp4 (the input) and overlay.mp4, overlays/NNN.jpg per frame,
- contact_sheet.png (six overlays in a grid),
- frames/NNN.json per frame: counts per class, each part's class, area and defects, stage timings,
- summary.json, and a summary table on stdout (frames, parts per class against the truth, FPS, ms per stage).

The clip's ground truth holds every part with a pixel in view, slivers entering and leaving at the frame's
edges included. Still scenes (`edgeseg scenes`, on which the models were trained and are judged) draw only
parts showing at least `SceneOptions.min_visible_fraction` (40 %) of themselves, and no detector counts a part
two pixels wide. So a frame's count is judged right when it lies between the parts showing at least that share
and all parts in view: the parts in between may be found or not, as "ignore" regions are in detection
benchmarks. The strict count (every part in view) is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from edgeseg.cli.commands import positive_int
from edgeseg.cli.progress import Progress

INSTANCE_MODEL = "parts-inst"
SEMANTIC_MODEL = "parts-seg"
DEFECT_CLASSES = ("defect",)
# A part counts as defective when at least this many defect pixels lie on it. Picked on a validation clip
# (seed 11, 48 frames, not the demo's): 16 px flagged 163 parts, 161 of them truly defective, against 275
# flagged (113 wrongly) at 4 px; the 46 truly defective parts it misses show at most 11 defect pixels.
MIN_DEFECT_PX = 16


def contact_sheet(images: list[np.ndarray], captions: list[str], cols: int = 3, width: int = 640) -> np.ndarray:
    """Images (BGR) scaled to `width` and laid out in a grid with a caption on each."""
    tiles = []
    for img, text in zip(images, captions):
        h = round(img.shape[0] * width / img.shape[1])
        tile = cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA)
        cv2.rectangle(tile, (0, 0), (width, 22), (0, 0, 0), -1)
        cv2.putText(tile, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    h = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[r:r + cols]) for r in range(0, len(tiles), cols)]
    return np.vstack(rows)


def visibly_defective(truth, min_px: int) -> int:
    """Parts of a scene's ground truth whose visible defects cover at least `min_px` pixels."""
    px = np.zeros(len(truth.masks), np.int64)
    np.add.at(px, truth.defect_instance, truth.defect_masks.areas.astype(np.int64))
    return int(np.count_nonzero(px >= min_px))


def draw(frame: np.ndarray, parts, semantic, reports) -> np.ndarray:
    """Parts overlay, defect pixels in red, defective parts boxed thick."""
    out = parts.overlay(frame, alpha=0.35)
    defect_ids = [semantic.class_names.index(c) for c in DEFECT_CLASSES]
    defect = np.isin(semantic.class_map, defect_ids)
    out[defect] = (0, 0, 255)
    for r in reports:
        if r.defective:
            x0, y0, x1, y1 = (int(round(v)) for v in r.xyxy)
            cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (0, 0, 255), 2)
    return out


def run_demo(out: Path, *, frames: int, seed: int, threads: int | None, quiet: bool) -> int:
    from edgeseg import assets
    from edgeseg.bench.metrics import count_errors
    from edgeseg.bench.scenes import CLASS_NAMES, SceneOptions, make_sequence
    from edgeseg.inspection import defects_per_part
    from edgeseg.segmenter import load

    missing = [m for m in (INSTANCE_MODEL, SEMANTIC_MODEL) if m not in assets.names()]
    if missing:
        print(f"edgeseg demo: the shipped models {missing} are not in this install (edgeseg.assets has "
              f"{assets.names()}); train them with examples/train_reference_models.py")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    (out / "frames").mkdir(exist_ok=True)
    opts = SceneOptions(size_wh=(1280, 720), objects=30, defect_rate=0.25)
    size = opts.size_wh
    clip = cv2.VideoWriter(str(out / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    video = cv2.VideoWriter(str(out / "overlay.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    per_class = {name: [] for name in CLASS_NAMES}
    truth_counts, sure_counts, found_counts, defective, truth_defective, truth_visible = [], [], [], 0, 0, 0
    stage_ms = {"parts-inst": np.zeros(3), "parts-seg": np.zeros(3)}
    sheet, captions = [], []
    pick = set(np.linspace(0, frames - 1, 6).round().astype(int).tolist())
    start = time.perf_counter()
    with load(INSTANCE_MODEL, threads=threads) as inst, load(SEMANTIC_MODEL, threads=threads) as sem, \
            Progress(frames, "frames", enabled=not quiet) as bar:
        for k, scene in enumerate(make_sequence(frames, opts, seed=seed, speed_px=24.0)):
            frame = scene.image
            parts = inst(frame)
            seg = sem(frame)
            reports = defects_per_part(parts, seg, DEFECT_CLASSES, min_defect_px=MIN_DEFECT_PX)
            overlay = draw(frame, parts, seg, reports)
            counts = parts.counts()
            for name in CLASS_NAMES:
                per_class[name].append(counts.get(name, 0))
            truth_counts.append(len(scene.truth.masks))
            sure_counts.append(int(np.sum(scene.truth.visible_fraction >= opts.min_visible_fraction)))
            found_counts.append(len(parts))
            defective += sum(r.defective for r in reports)
            truth_defective += len(np.unique(scene.truth.defect_instance))
            truth_visible += visibly_defective(scene.truth, MIN_DEFECT_PX)
            for name, r in (("parts-inst", parts), ("parts-seg", seg)):
                t = r.timings
                stage_ms[name] += (t.preprocess_ms, t.inference_ms, t.decode_ms)
            doc = {"frame": k, "counts": counts, "truth_count": len(scene.truth.masks),
                   "truth_count_sure": sure_counts[-1],
                   "parts": [r.to_dict() for r in reports],
                   "defect_area_fraction": {c: round(float(seg.area_fraction[seg.class_names.index(c)]), 6)
                                            for c in DEFECT_CLASSES},
                   "timings": {"parts-inst": parts.timings.to_dict(), "parts-seg": seg.timings.to_dict()}}
            (out / "frames" / f"{k:03d}.json").write_text(json.dumps(doc))
            cv2.imwrite(str(out / "overlays" / f"{k:03d}.jpg"), overlay, [cv2.IMWRITE_JPEG_QUALITY, 90])
            clip.write(frame)
            video.write(overlay)
            if k in pick:
                sheet.append(overlay)
                true = (f"{len(scene.truth.masks)}" if sure_counts[-1] == len(scene.truth.masks) else
                        f"{sure_counts[-1]}-{len(scene.truth.masks)}")
                captions.append(f"frame {k}: {len(parts)} parts found ({true} true), "
                                f"{sum(r.defective for r in reports)} with defects")
            bar.update()
    wall = time.perf_counter() - start
    clip.release()
    video.release()
    cv2.imwrite(str(out / "contact_sheet.png"), contact_sheet(sheet, captions))
    summary = {"frames": frames, "frame_wh": list(size), "wall_s": round(wall, 2),
               "parts_per_frame": {n: round(float(np.mean(v)), 2) for n, v in per_class.items()},
               "found_per_frame": round(float(np.mean(found_counts)), 2),
               "truth_per_frame": round(float(np.mean(truth_counts)), 2),
               "truth_sure_per_frame": round(float(np.mean(sure_counts)), 2),
               # edgeseg eval's rule: right anywhere from the parts showing enough of themselves to all parts
               "frames_count_right": round(frames * count_errors(found_counts, sure_counts, truth_counts)
                                           ["count_exact_rate"]),
               "frames_count_exact": int(np.sum(np.array(found_counts) == np.array(truth_counts))),
               "defective_parts_found": defective, "defective_parts_truth": truth_defective,
               f"defective_parts_truth_min_{MIN_DEFECT_PX}px": truth_visible,
               "ms_per_stage": {m: dict(zip(("preprocess", "inference", "decode"), np.round(v / frames, 2).tolist()))
                                for m, v in stage_ms.items()}}
    pipeline_ms = sum(float(v.sum()) for v in stage_ms.values()) / frames
    summary["pipeline_fps"] = round(1000.0 / pipeline_ms, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nedgeseg demo: {frames} frames of a 1280x720 belt → {out}/ (overlays, contact_sheet.png, frames/*.json)")
    print("  parts per frame: " + ", ".join(f"{n} {v}" for n, v in summary["parts_per_frame"].items())
          + f"  (found {summary['found_per_frame']}, truth {summary['truth_per_frame']})")
    share = round(100 * opts.min_visible_fraction)
    print(f"  count right on {summary['frames_count_right']}/{frames} frames, {summary['frames_count_exact']}/{frames} "
          f"counting every part in view ({summary['truth_sure_per_frame']} parts per frame show at least {share} %\n"
          f"  of themselves; the rest, entering or leaving at the frame's edges, may be found or not)")
    print(f"  defective parts over the clip: found {defective}, truth {truth_defective} "
          f"({truth_visible} with at least {MIN_DEFECT_PX} defect pixels in view)")
    print(f"  {'model':<11} {'preprocess':>10} {'inference':>10} {'decode':>8}  ms per frame")
    for m, v in summary["ms_per_stage"].items():
        print(f"  {m:<11} {v['preprocess']:>10.2f} {v['inference']:>10.2f} {v['decode']:>8.2f}")
    print(f"  both models: {summary['pipeline_fps']} FPS (stages only), demo wall time {wall:.1f} s")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(Path(args.out), frames=args.frames, seed=args.seed, threads=args.threads, quiet=args.quiet)


def build_parser(sub) -> None:
    p = sub.add_parser("demo", help="the factory-line demo on the shipped models", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    p.add_argument("--frames", type=positive_int, default=24, help="clip length in frames (default 24)")
    p.add_argument("--seed", type=int, default=7, help="scene seed (default 7)")
    p.add_argument("--threads", type=int, help="threads per model (default: the runtime's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)
