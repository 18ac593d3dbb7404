"""Parity report: every exported file against the PyTorch model, on held-out frames, through the runtime.

Each file is loaded with `edgeseg.load` and run on the frames (preprocess → inference → decode); the
PyTorch module runs on the very same preprocessed tensors and is decoded with the same decoder. That
PyTorch result is the reference:
- semantic: mIoU and pixel agreement of the class maps;
- instance: mask AP50 with PyTorch's instances as ground truth, count agreement (share of frames with
  the same count), mean IoU of matched masks.
INT8 rows also carry `drop`: FP32 of the same format minus INT8, in points (×100).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeseg.bench.metrics import ConfusionIoU, MaskAP, crop_iou_matrix
from edgeseg.convert.source import Source
from edgeseg.preprocess import preprocess
from edgeseg.results import InstanceResult, SemanticResult
from edgeseg.spec import ModelSpec, Task


@dataclass
class Row:
    format: str
    precision: str
    path: str
    size_bytes: int
    latency_ms: float  # median inference time per frame
    metrics: dict[str, float] = field(default_factory=dict)
    drop: float | None = None

    def to_dict(self) -> dict:
        return {"format": self.format, "precision": self.precision, "path": self.path,
                "size_bytes": self.size_bytes, "latency_ms": round(self.latency_ms, 3),
                **{k: round(v, 5) for k, v in self.metrics.items()},
                "drop": None if self.drop is None else round(self.drop, 3)}


def torch_results(src: Source, spec: ModelSpec, frames: list[np.ndarray], decode) -> list:
    """PyTorch's own decoded results on the runtime's preprocessed tensors."""
    import torch

    out = []
    names = [o.name for o in spec.outputs]
    with torch.no_grad():
        for frame in frames:
            tensor, t = preprocess(frame, spec.input)
            raw = src.module.eval()(torch.from_numpy(tensor))
            raw = raw if isinstance(raw, (tuple, list)) else (raw,)
            out.append(decode({n: r.numpy() for n, r in zip(names, raw)}, t))
    return out


def compare(task: Task, got: list, want: list, num_classes: int) -> dict[str, float]:
    """Metrics of `got` against the reference `want` (lists of results over the same frames)."""
    if task == Task.SEMANTIC:
        conf = ConfusionIoU(num_classes)
        agree = []
        for g, w in zip(got, want):
            assert isinstance(g, SemanticResult)
            conf.add(g.class_map, w.class_map)
            agree.append(float(np.mean(g.class_map == w.class_map)))
        return {"miou": conf.miou(), "pixel_agreement": float(np.mean(agree))}
    ap = MaskAP(num_classes)
    same_count, ious = [], []
    n_got = n_want = 0
    for g, w in zip(got, want):
        assert isinstance(g, InstanceResult)
        ap.add(g.masks, g.scores, g.class_id, w.masks, w.class_id)
        same_count.append(len(g) == len(w))
        n_got, n_want = n_got + len(g), n_want + len(w)
        m = crop_iou_matrix(g.masks, w.masks)
        while m.size and m.max() > 0:  # greedy one-to-one matching by IoU
            i, j = np.unravel_index(np.argmax(m), m.shape)
            ious.append(m[i, j])
            m[i, :] = 0
            m[:, j] = 0
    ap50 = ap.summary()["mask_ap50"]
    if n_want == 0:  # the reference found nothing: perfect if the file agrees, all false positives if not
        ap50 = 1.0 if n_got == 0 else 0.0
    return {"mask_ap50": float(ap50),
            "count_agreement": float(np.mean(same_count)),
            "mean_mask_iou": float(np.mean(ious)) if ious else 1.0}


def measure(path: Path, fmt: str, frames: list[np.ndarray], reference: list, task: Task, num_classes: int,
            threads: int | None = None) -> Row:
    from edgeseg.segmenter import load

    with load(path, threads=threads) as seg:
        seg(frames[0])  # warm-up
        results = [seg(f) for f in frames]
        precision = seg.spec.quantization.precision.value
    latency = float(np.median([r.timings.inference_ms for r in results]))
    size = sum(p.stat().st_size for p in ([path, path.with_suffix(".bin")] if path.suffix == ".xml" else [path]))
    return Row(fmt, precision, str(path), size, latency, compare(task, results, reference, num_classes))


def fill_drops(rows: list[Row], key: str) -> None:
    """INT8 rows: drop against the FP32 row of the same format, in points."""
    fp32 = {r.format: r.metrics[key] for r in rows if r.precision == "fp32"}
    for r in rows:
        if r.precision == "int8" and r.format in fp32:
            r.drop = 100.0 * (fp32[r.format] - r.metrics[key])


def print_table(rows: list[Row], key: str) -> None:
    extra = ["pixel_agreement"] if key == "miou" else ["count_agreement", "mean_mask_iou"]
    print(f"{'format':<10} {'prec':<5} {'size MB':>8} {'infer ms':>9} {key:>10} "
          + " ".join(f"{k:>15}" for k in extra) + f" {'drop (pt)':>9}")
    for r in rows:
        drop = "" if r.drop is None else f"{r.drop:.2f}"
        print(f"{r.format:<10} {r.precision:<5} {r.size_bytes / 1e6:>8.2f} {r.latency_ms:>9.2f} "
              f"{r.metrics[key]:>10.4f} " + " ".join(f"{r.metrics[k]:>15.4f}" for k in extra) + f" {drop:>9}")
    fp32 = {r.format: r.latency_ms for r in rows if r.precision == "fp32"}
    for r in rows:
        if r.precision == "int8" and r.format in fp32:
            print(f"INT8 speed-up on {r.format}: {fp32[r.format] / max(r.latency_ms, 1e-9):.2f}x (inference)")


def write_report(rows: list[Row], path: Path, extra: dict) -> None:
    path.write_text(json.dumps({"rows": [r.to_dict() for r in rows], **extra}, indent=2))
