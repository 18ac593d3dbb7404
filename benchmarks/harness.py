"""`edgeseg bench MODEL`: the full pipeline timed stage by stage against the number of objects in view.

For each object count N the harness times preprocess, inference, decode and (with --output) JSON + RLE
serialization of the result, with warm-up, `perf_counter_ns` and enough repeats for a stable median, and
records the count the model detected and the process memory (RSS).

Where "N objects" comes from (the report says which):
- scenes: the scene generator's factory-line frames with N parts, through the real model (for models
  that detect the scenes' parts, like the shipped reference models);
- planted: real inference on a real frame, then decoding of raw outputs with N planted instances in
  the model's own layout: honest for any model because a static graph's inference cost does not depend
  on what the frame shows, while decode cost does;
- images: a folder of the user's own images, each binned by the count the model detected.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeseg.bench.planted import plant_yolo_seg
from edgeseg.cli.progress import Progress
from edgeseg.errors import InputError
from edgeseg.spec import DecoderKind, OutputRole, Task

STAGES = ("preprocess", "inference", "decode", "output")


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    objects: tuple[int, ...] = (0, 1, 10, 25, 50, 100, 200)
    frame_wh: tuple[int, int] = (1280, 720)
    mode: str = "auto"  # "auto", "scenes", "planted", "images"
    images: str | None = None  # folder, for mode "images"
    warmup: int = 3
    min_time_s: float = 2.0
    min_repeats: int = 10
    frames_per_count: int = 4
    output: bool = False  # also time result.to_json(rle=True)
    seed: int = 0


def _rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:  # without the [bench] extra: Linux's /proc, else peak RSS only
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            import resource

            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def busy_warning(threshold: float = 0.5) -> str | None:
    """A warning when other processes keep the CPUs busy (timings will be noisy), else None."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    if load > threshold * cores:
        return (f"the machine is busy: 1-minute load average {load:.2f} on {cores} cores; "
                "timings will be noisy and slower than on an idle device")
    return None


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    files = [path, path.with_suffix(".bin")] if path.suffix == ".xml" else [path]
    for p in files:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


class Planter:
    """Replaces a model's raw outputs with N planted instances in the same layout (YOLO-seg, Mask R-CNN)."""

    def __init__(self, spec, raw: dict[str, np.ndarray], frame_hw: tuple[int, int], seed: int) -> None:
        self.spec = spec
        self.raw = raw
        self.frame_hw = frame_hw
        self.seed = seed
        if spec.decoder != DecoderKind.YOLO_SEG:
            raise InputError(f"planted mode supports yolo-seg heads; this model's decoder is {spec.decoder.value!r} "
                             "(use --mode scenes or --mode images)")
        protos = raw[spec.output_name(OutputRole.PROTOS)]
        self.nm, self.proto_hw = protos.shape[-3], tuple(protos.shape[-2:])
        pred = spec.output(OutputRole.PREDICTIONS)
        if pred is not None:
            shape = raw[pred.name].shape[-2:]
            self.anchors = shape[1] if shape[0] == 4 + self.nc + self.nm else shape[0]
        else:
            shape = raw[spec.output_name(OutputRole.BOXES)].shape[-2:]
            self.anchors = shape[0] if shape[1] == 4 else shape[1]

    @property
    def nc(self) -> int:
        return len(self.spec.things) if self.spec.task == Task.PANOPTIC else self.spec.num_classes

    def raw_with(self, n: int):
        """(raw outputs with N planted instances, the Transform they are planted for)."""
        p = plant_yolo_seg(n, frame_hw=self.frame_hw, input_hw=self.spec.input.size_hw, nc=self.nc, nm=self.nm,
                           seed=self.seed + n, num_anchors=self.anchors, proto_hw=self.proto_hw,
                           resize=self.spec.input.resize)
        raw = dict(self.raw)
        s = self.spec
        if s.output(OutputRole.PREDICTIONS) is not None:
            raw[s.output_name(OutputRole.PREDICTIONS)] = p.predictions
            raw[s.output_name(OutputRole.PROTOS)] = p.protos
        else:
            split = p.split(self.nc)
            for role, key in ((OutputRole.BOXES, "boxes"), (OutputRole.SCORES, "scores"),
                              (OutputRole.COEFFICIENTS, "coefficients"), (OutputRole.PROTOS, "protos")):
                raw[s.output_name(role)] = split[key]
        return raw, p.transform


def _scene_frames(n: int, opts: BenchOptions, k: int) -> list[np.ndarray]:
    from edgeseg.bench.scenes import SceneOptions, make_scene

    so = SceneOptions(size_wh=opts.frame_wh, objects=n)
    return [make_scene(so, seed=opts.seed * 100_003 + n * 101 + i).image for i in range(k)]


class RowTimer:
    """Times the pipeline over `frames` (cycled) one frame per `step`; with `planted` = (raw, transform),
    those raw outputs are decoded instead of the model's."""

    def __init__(self, seg, frames: list[np.ndarray], opts: BenchOptions, planted=None) -> None:
        self.seg, self.frames, self.opts, self.planted = seg, frames, opts, planted
        self.stage_ns: list[list[int]] = [[] for _ in STAGES]
        self.totals: list[int] = []
        self.counts: list[int] = []
        self.rss: list[int] = []
        self.i = 0

    def step(self, record: bool = True) -> None:
        from edgeseg.preprocess import preprocess

        seg, spec = self.seg, self.seg.spec
        frame = self.frames[self.i % len(self.frames)]
        self.i += 1
        t0 = time.perf_counter_ns()
        tensor, t = preprocess(frame, spec.input, frame_color=seg.frame_color)
        t1 = time.perf_counter_ns()
        raw = seg.backend.run({spec.input.name: tensor})
        t2 = time.perf_counter_ns()
        if self.planted is not None:
            raw, t = self.planted
        result = seg.decode(raw, t)
        t3 = time.perf_counter_ns()
        if self.opts.output:
            result.to_json(rle=True) if hasattr(result, "masks") else result.to_json()
        t4 = time.perf_counter_ns()
        if record:
            for k, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
                self.stage_ns[k].append(b - a)
            self.totals.append(t4 - t0)
            self.counts.append(len(result) if not hasattr(result, "class_map") else -1)
            self.rss.append(_rss_bytes())

    @property
    def elapsed_s(self) -> float:
        return sum(self.totals) / 1e9

    def summary(self) -> dict:
        ms = {s: float(np.median(v)) / 1e6 for s, v in zip(STAGES, self.stage_ns)}
        total = np.asarray(self.totals, np.float64) / 1e6
        med = float(np.median(total))
        detected = [c for c in self.counts if c >= 0]
        rss = self.rss
        return {"repeats": len(self.totals), **{f"{s}_ms": round(v, 3) for s, v in ms.items()},
                "total_median_ms": round(med, 3), "total_p90_ms": round(float(np.percentile(total, 90)), 3),
                "fps": round(1000.0 / med, 2), "detected": float(np.median(detected)) if detected else None,
                "rss_peak_mb": round(max(rss) / 2**20, 1),
                "rss_steady_mb": round(float(np.median(rss[len(rss) // 2:])) / 2**20, 1)}


def time_rows(timers: list[RowTimer], opts: BenchOptions, bar=None) -> list[dict]:
    """Time several rows interleaved, one frame of each in turn, until every row has `min_repeats` frames and
    `min_time_s` seconds: drifts in clock speed or background load then touch every row alike instead of
    biasing the rows measured last."""
    for timer in timers:
        for _ in range(opts.warmup):
            timer.step(record=False)
    while any(len(t.totals) < max(opts.min_repeats, len(t.frames)) or t.elapsed_s < opts.min_time_s
              for t in timers):
        for timer in timers:
            timer.step()
    return [t.summary() for t in timers]


def _time_row(seg, frames: list[np.ndarray], opts: BenchOptions, planted=None) -> dict:
    return time_rows([RowTimer(seg, frames, opts, planted)], opts)[0]


def choose_mode(seg, opts: BenchOptions) -> str:
    if opts.mode != "auto":
        return opts.mode
    from edgeseg.bench.scenes import CLASS_NAMES

    names = set(seg.spec.class_names)
    if seg.spec.task == Task.SEMANTIC or names >= set(CLASS_NAMES) or names >= {"part"}:
        return "scenes"  # a model of the factory-line scenes: real frames with N parts
    return "planted"


def run_bench(seg, opts: BenchOptions, *, progress: bool = True) -> dict:
    """Benchmark a loaded `Segmenter`; returns the report (rows, mode, warnings)."""
    mode = choose_mode(seg, opts)
    notes = [w for w in (busy_warning(),) if w]
    rows = []
    if mode == "images":
        rows = _images_rows(seg, opts, progress)
    else:
        frame_hw = (opts.frame_wh[1], opts.frame_wh[0])
        timers = []
        planter = None
        with Progress(len(opts.objects), "object counts prepared", enabled=progress) as bar:
            for n in opts.objects:
                frames = _scene_frames(n if mode == "scenes" else 0, opts, opts.frames_per_count)
                planted = None
                if mode == "planted":
                    if planter is None:
                        raw, _ = seg.infer(frames[0])
                        planter = Planter(seg.spec, raw, frame_hw, opts.seed)
                    planted = planter.raw_with(n)
                timers.append(RowTimer(seg, frames, opts, planted))
                bar.update()
        rows = [{"objects": n, **r} for n, r in zip(opts.objects, time_rows(timers, opts))]
    return {"mode": mode, "rows": rows, "warnings": notes}


def _images_rows(seg, opts: BenchOptions, progress: bool) -> list[dict]:
    """The user's images, each timed, then grouped by detected count into the `objects` bins."""
    from edgeseg.media import collect_sources, read_image

    if not opts.images:
        raise InputError("mode 'images' needs --images DIR")
    sources = [s for s in collect_sources([opts.images]) if s.kind == "image"]
    per_image = []
    with Progress(len(sources), "images", enabled=progress) as bar:
        for s in sources:
            row = _time_row(seg, [read_image(s.path)], BenchOptions(**{**asdict(opts), "min_time_s": 0.0}))
            per_image.append(row)
            bar.update()
    edges = sorted(opts.objects)
    rows = []
    for k, lo in enumerate(edges):
        hi = edges[k + 1] - 1 if k + 1 < len(edges) else 10**9
        group = [r for r in per_image if r["detected"] is not None and lo <= r["detected"] <= hi]
        if not group:
            continue
        keys = [key for key in group[0] if key.endswith("_ms") or key.startswith("rss")]
        merged = {key: round(float(np.median([r[key] for r in group])), 3) for key in keys}
        merged["fps"] = round(1000.0 / merged["total_median_ms"], 2)
        rows.append({"objects": lo, "images": len(group), "detected": float(np.median([r["detected"] for r in group])),
                     "repeats": int(sum(r["repeats"] for r in group)), **merged})
    return rows


def soak(seg, frames: int, n: int, opts: BenchOptions, *, progress: bool = True) -> dict:
    """Run `frames` frames with N parts and report RSS at the start (after a warm-up tenth) and the end."""
    scene_frames = _scene_frames(n, opts, opts.frames_per_count)
    samples = []
    warm = max(frames // 10, 1)
    with Progress(frames, "soak frames", enabled=progress) as bar:
        for i in range(frames):
            seg(scene_frames[i % len(scene_frames)])
            if i >= warm and (i - warm) % 50 == 0:
                samples.append(_rss_bytes())
            bar.update()
    samples.append(_rss_bytes())
    start, end = samples[0], samples[-1]
    return {"frames": frames, "objects": n, "rss_start_mb": round(start / 2**20, 1),
            "rss_end_mb": round(end / 2**20, 1), "rss_max_mb": round(max(samples) / 2**20, 1),
            "drift_pct": round(100.0 * (end - start) / start, 2)}


def write_csv(rows: list[dict], path: Path) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def plot(report: dict, path: Path) -> bool:
    """FPS against object count and stacked stage times; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = report["rows"]
    n = [r["objects"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    a.plot(n, [r["fps"] for r in rows], "o-")
    a.set_xlabel("objects in frame")
    a.set_ylabel("pipeline FPS")
    a.set_ylim(bottom=0)
    a.grid(alpha=0.3)
    a.set_title(f"{report['model']['name']} on {report['model']['backend']} ({report['mode']})")
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for s in STAGES:
        v = np.array([r[f"{s}_ms"] for r in rows])
        if v.any():
            b.bar(x, v, bottom=bottom, label=s)
            bottom += v
    b.set_xticks(x, [str(v) for v in n])
    b.set_xlabel("objects in frame")
    b.set_ylabel("median ms per frame")
    b.legend()
    b.set_title(report["device"]["cpu"][:48])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def print_table(report: dict) -> None:
    m = report["model"]
    print(f"{m['name']} ({m['precision']}, {m['backend']} on {m['device']}, threads {m['threads']}), "
          f"frame {report['options']['frame_wh'][0]}x{report['options']['frame_wh'][1]}, mode {report['mode']}")
    print(f"{'objects':>7} {'found':>6} {'pre ms':>7} {'infer ms':>9} {'decode ms':>9} {'out ms':>7} "
          f"{'p50 ms':>8} {'p90 ms':>8} {'FPS':>7} {'RSS MB':>7}")
    for r in report["rows"]:
        found = "-" if r["detected"] is None else f"{r['detected']:.0f}"
        print(f"{r['objects']:>7} {found:>6} {r['preprocess_ms']:>7.2f} {r['inference_ms']:>9.2f} "
              f"{r['decode_ms']:>9.2f} {r['output_ms']:>7.2f} {r['total_median_ms']:>8.2f} {r['total_p90_ms']:>8.2f} "
              f"{r['fps']:>7.2f} {r['rss_peak_mb']:>7.1f}")
    by_n = {r["objects"]: r for r in report["rows"]}
    if 1 in by_n:
        base = by_n[1]
        for k in (100, 200):
            if k in by_n:
                print(f"FPS at N={k} / FPS at N=1: {by_n[k]['fps'] / base['fps']:.3f}")
        overhead = (base["preprocess_ms"] + base["decode_ms"]) / max(base["inference_ms"], 1e-9)
        print(f"runtime overhead at N=1 (preprocess + decode) / inference: {100 * overhead:.1f} %")
    if "soak" in report:
        s = report["soak"]
        print(f"soak: {s['frames']} frames at N={s['objects']}: RSS {s['rss_start_mb']} → {s['rss_end_mb']} MB "
              f"(drift {s['drift_pct']:+.2f} %, max {s['rss_max_mb']} MB)")
    for w in report.get("warnings", []):
        print(f"warning: {w}")


def compare(paths: list[Path]) -> None:
    """Side-by-side table of several reports: total median ms and FPS, ratios against the first."""
    reports = [json.loads(Path(p).read_text()) for p in paths]
    labels = [f"{r['model']['name']}/{r['model']['backend']}/{r['model']['precision']}" for r in reports]
    for k, (p, lab, r) in enumerate(zip(paths, labels, reports)):
        print(f"[{k}] {lab}  {r['device']['cpu']}, {r['device']['cores']} cores  ({p})")
    counts = sorted({row["objects"] for r in reports for row in r["rows"]})
    head = f"{'objects':>7} " + " ".join(f"{'[' + str(k) + '] ms':>10} {'FPS':>7}" for k in range(len(reports)))
    head += " " + " ".join(f"{'[' + str(k) + ']/[0]':>9}" for k in range(1, len(reports)))
    print(head)
    for n in counts:
        cells, speed = [], []
        base = None
        for k, r in enumerate(reports):
            row = next((x for x in r["rows"] if x["objects"] == n), None)
            if row is None:
                cells.append(f"{'-':>10} {'-':>7}")
                speed.append(None)
                continue
            cells.append(f"{row['total_median_ms']:>10.2f} {row['fps']:>7.2f}")
            if k == 0:
                base = row["fps"]
            speed.append(row["fps"])
        ratios = [f"{(s / base):>8.2f}x" if s is not None and base else f"{'-':>9}" for s in speed[1:]]
        print(f"{n:>7} " + " ".join(cells) + " " + " ".join(ratios))
    print("ratios are FPS against [0]: above 1 is faster")
