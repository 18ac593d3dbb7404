"""`edgeseg bench MODEL ...` and `edgeseg bench compare A.json B.json ...`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeseg.cli.commands import add_model_options, command_parser, run
from edgeseg.bench.cli_args import parse_counts, parse_size_wh
from edgeseg.errors import InputError

EPILOG = """examples:
  edgeseg bench parts-inst --objects 0,1,10,50,100,200 --threads 2 --out bench-out/
  edgeseg bench model.onnx --mode planted --backends onnxruntime,openvino
  edgeseg bench compare bench-out/fp32/bench.json bench-out/int8/bench.json"""


def cmd_bench(args: argparse.Namespace) -> int:
    if args.model == "compare":
        from edgeseg.bench.harness import compare

        if len(args.reports) < 2:
            raise InputError("bench compare: give two or more report JSON files")
        compare([Path(p) for p in args.reports])
        return 0
    if args.reports:
        raise InputError(f"unexpected arguments {args.reports}; only `bench compare` takes several files")
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else [args.backend]
    out = Path(args.out) if args.out else None
    for backend in backends:
        model = model_for_backend(args.model, backend) if len(backends) > 1 else args.model
        run_one(args, model, backend, out / backend if out and len(backends) > 1 else out)
    return 0


def model_for_backend(model: str, backend: str) -> str:
    """The file `backend` should run: the model itself if it can, else its sibling export (same stem)."""
    from edgeseg.backends import BACKENDS
    from edgeseg.segmenter import resolve_model_path

    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; expected some of {sorted(BACKENDS)}")
    path = resolve_model_path(model)
    if path.suffix in BACKENDS[backend].suffixes:
        return str(path)
    for suffix in BACKENDS[backend].suffixes:
        sibling = path.with_suffix(suffix)
        if sibling.is_file():
            return str(sibling)
    raise InputError(f"{backend} cannot run {path.name}, and there is no {' or '.join(BACKENDS[backend].suffixes)} "
                     f"file beside it (export one with `edgeseg export ... --formats`)")


def run_one(args: argparse.Namespace, model: str, backend: str | None, out: Path | None) -> None:
    from edgeseg.bench.harness import BenchOptions, file_hash, plot, print_table, run_bench, soak, write_csv
    from edgeseg.device_info import fingerprint
    from edgeseg.segmenter import load

    opts = BenchOptions(objects=tuple(args.objects), frame_wh=args.frame, mode=args.mode, images=args.images,
                        warmup=args.warmup, min_time_s=args.min_time, min_repeats=args.repeats, output=args.output,
                        seed=args.seed)
    with load(model, backend=backend, device=args.device, threads=args.threads) as seg:
        report = run_bench(seg, opts, progress=not args.quiet)
        if args.soak:
            report["soak"] = soak(seg, args.soak, args.soak_objects, opts, progress=not args.quiet)
        spec = seg.spec
        report["model"] = {"path": str(seg.path), "name": spec.name or Path(str(seg.path)).stem,
                           "task": spec.task.value, "precision": spec.quantization.precision.value,
                           "backend": seg.backend.name, "device": seg.backend.device,
                           "threads": args.threads, "file_sha256": file_hash(Path(seg.path)),
                           "source_hash": spec.source_hash, "decode": seg.decoding()}
    report["options"] = {"objects": list(opts.objects), "frame_wh": list(opts.frame_wh), "warmup": opts.warmup,
                         "min_time_s": opts.min_time_s, "min_repeats": opts.min_repeats, "output": opts.output}
    report["device"] = fingerprint()
    print_table(report)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps(report, indent=2))
        write_csv(report["rows"], out / "bench.csv")
        drawn = plot(report, out / "bench.png")
        print(f"wrote {out / 'bench.json'}, bench.csv" + (", bench.png" if drawn else
                                                           " (no plot: pip install 'edgeseg[bench]')"))


def build_parser(sub=None) -> argparse.ArgumentParser:
    from edgeseg.bench import harness

    text = dict(description=harness.__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p = command_parser(sub, "bench", "FPS against object count, stage by stage (or: bench compare A.json B.json)", **text)
    p.add_argument("model", help="model file or shipped model name; or `compare` followed by report files")
    p.add_argument("reports", nargs="*", help="with `compare`: two or more bench.json files")
    p.add_argument("--objects", type=parse_counts, default=[0, 1, 10, 25, 50, 100, 200],
                   help="object counts (default 0,1,10,25,50,100,200)")
    p.add_argument("--frame", type=parse_size_wh, default=(1280, 720), help="frame WxH (default 1280x720)")
    p.add_argument("--mode", choices=["auto", "scenes", "planted", "images"], default="auto",
                   help="where N objects come from (default auto: scenes for models of the factory-line scenes, "
                        "else planted)")
    p.add_argument("--images", help="folder of your own images (mode images)")
    add_model_options(p)
    p.add_argument("--backends", help="several backends in one run, e.g. onnxruntime,openvino,tflite (each "
                                      "runs the model's sibling export when it cannot read the given file)")
    p.add_argument("--warmup", type=int, default=3, help="untimed frames per count (default 3)")
    p.add_argument("--min-time", type=float, default=2.0, help="seconds timed per count (default 2)")
    p.add_argument("--repeats", type=int, default=10, help="at least this many timed frames per count (default 10)")
    p.add_argument("--output", action="store_true", help="also time JSON + RLE output of each result")
    p.add_argument("--soak", type=int, metavar="FRAMES", help="then run FRAMES frames and report RSS drift")
    p.add_argument("--soak-objects", type=int, default=100, help="objects per soak frame (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for bench.json, bench.csv, bench.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
