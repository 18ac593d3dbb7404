"""Decode micro-benchmark: YOLO-seg raw outputs with N planted objects → decode time against N.

    python -m edgeseg.bench.decode --objects 0,1,10,100,300 --frame 1280x720 [--json PATH]

Each row decodes the same planted outputs repeatedly (masks as frame-resolution crops) and checks that N
instances come back; a mismatch is an error, not a footnote.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeseg.bench.cli_args import parse_counts, parse_size_wh
from edgeseg.bench.planted import plant_yolo_seg
from edgeseg.bench.timing import summarize, time_calls
from edgeseg.decode import InstanceOptions, decode_yolo_seg
from edgeseg.device_info import fingerprint


def run(objects: list[int], frame_wh: tuple[int, int], input_size: int, nc: int, nm: int, min_time_s: float,
        seed: int = 0) -> list[dict]:
    rows = []
    opts = InstanceOptions(max_det=max(300, max(objects)))
    for n in objects:
        p = plant_yolo_seg(n, frame_hw=(frame_wh[1], frame_wh[0]), input_hw=(input_size, input_size), nc=nc,
                           nm=nm, seed=seed)

        def once():
            return decode_yolo_seg(protos=p.protos, t=p.transform, nc=nc, nm=nm, opts=opts,
                                   predictions=p.predictions)

        instances = len(once())
        ms = time_calls(once, min_time_s=min_time_s)
        rows.append({"objects": n, **summarize(ms), "instances": instances})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgeseg.bench.decode", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=parse_counts, default=[0, 1, 10, 100, 300],
                    help="comma-separated object counts (default 0,1,10,100,300)")
    ap.add_argument("--frame", type=parse_size_wh, default=(1280, 720), help="frame WIDTHxHEIGHT (default 1280x720)")
    ap.add_argument("--input", type=int, default=640, help="square model input size (default 640)")
    ap.add_argument("--classes", type=int, default=3, help="number of classes (default 3)")
    ap.add_argument("--mask-coeffs", type=int, default=32, help="mask coefficients / prototypes (default 32)")
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds of timing per row (default 1.0)")
    ap.add_argument("--json", type=Path, help="write {rows, device} here")
    args = ap.parse_args(argv)
    rows = run(args.objects, args.frame, args.input, args.classes, args.mask_coeffs, args.min_time)
    print(f"YOLO-seg decode, frame {args.frame[0]}x{args.frame[1]}, input {args.input}, "
          f"{args.classes} classes, {args.mask_coeffs} prototypes, masks as frame-resolution crops")
    print(f"{'objects':>8} {'median ms':>10} {'p90 ms':>8} {'repeats':>8} {'instances':>10}")
    for r in rows:
        print(f"{r['objects']:>8} {r['median_ms']:>10.3f} {r['p90_ms']:>8.3f} {r['repeats']:>8} {r['instances']:>10}")
    by_n = {r["objects"]: r["median_ms"] for r in rows}
    if 1 in by_n and 100 in by_n:
        print(f"N=100 / N=1 decode time ratio: {by_n[100] / by_n[1]:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "device": fingerprint(),
                                         "frame_wh": list(args.frame), "input": args.input}, indent=2))
    wrong = [r for r in rows if r["instances"] != r["objects"]]
    if wrong:
        print(f"error: decoded counts differ from planted counts: {wrong}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
