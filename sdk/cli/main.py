"""`edgeseg` command line: info, inspect, run, scenes, eval, export, bench, demo.

Each subcommand lives in a function `cmd_<name>(args) -> int`; `main` only parses and dispatches, and turns
an `EdgeSegError` into a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from edgeseg.cli.commands import add_decode_options, add_model_options, decode_options
from edgeseg.errors import EdgeSegError


def cmd_info(args: argparse.Namespace) -> int:
    from edgeseg.device_info import default_backends, fingerprint

    fp = fingerprint()
    extra = _runtime_devices()
    if args.json:
        print(json.dumps({**fp, "default_backends": default_backends(), "devices": extra}, indent=2))
        return 0
    print(f"edgeseg {fp['edgeseg']}  python {fp['python']}  numpy {fp['numpy']}  opencv {fp['opencv']}")
    print(f"platform: {fp['os']} {fp['arch']}, {fp['cores']} cores, CPU: {fp['cpu']}")
    print("backends:")
    for name, version in fp["backends"].items():  # type: ignore[union-attr]
        devices = extra.get(name)
        tail = f"  devices: {', '.join(devices)}" if devices else ""
        print(f"  {name:<12} {version or 'not installed'}{tail}")
    print("edgeseg.load would use:")
    for suffix, name in default_backends().items():
        print(f"  {suffix:<8} {name or '(backend not installed)'}")
    return 0


def _runtime_devices() -> dict[str, list[str]]:
    """Providers/devices each installed runtime reports (imports the runtimes: CLI only)."""
    out: dict[str, list[str]] = {}
    try:
        import onnxruntime as ort

        out["onnxruntime"] = list(ort.get_available_providers())
    except ImportError:
        pass
    try:
        import openvino as ov

        out["openvino"] = list(ov.Core().available_devices)
    except ImportError:
        pass
    return out


def cmd_inspect(args: argparse.Namespace) -> int:
    from edgeseg.backends import BackendOptions, open_backend
    from edgeseg.segmenter import resolve_model_path
    from edgeseg.spec import BoxExtent, Task
    from edgeseg.spec_io import read_spec

    path = resolve_model_path(args.model)
    be = open_backend(path, args.backend, BackendOptions())
    try:
        spec = read_spec(path, be)
        doc = {"path": str(path), "backend": be.name, "device": be.device,
               "inputs": [_tensor_doc(t) for t in be.inputs], "outputs": [_tensor_doc(t) for t in be.outputs],
               "spec": spec.to_dict() if spec else None}
    finally:
        be.close()
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{path}  ({be.name} on {doc['device']})")
    for kind in ("inputs", "outputs"):
        print(f"{kind}:")
        for t in doc[kind]:
            q = f"  quant scale={t['quant'][0]:.6g} zero_point={t['quant'][1]}" if t["quant"] else ""
            print(f"  {t['name']:<24} {str(t['shape']):<22} {t['dtype']}{q}")
    if spec is None:
        print("spec: none (pass spec=... to edgeseg.load, or export with edgeseg)")
        return 0
    print(f"spec: version {spec.version}, task {spec.task.value}, decoder {spec.decoder.value}")
    i = spec.input
    norm = "folded into the graph" if i.normalization is None else (
        f"scale {i.normalization.scale:.6g} mean {i.normalization.mean} std {i.normalization.std}")
    print(f"  input {i.name!r}: {i.layout.value} {i.size_hw[0]}x{i.size_hw[1]} {i.dtype.value} {i.color.value}, "
          f"{i.resize.value} (pad {i.pad_value}), normalization {norm}")
    print(f"  outputs: {', '.join(f'{o.name}={o.role.value}' for o in spec.outputs)}")
    print(f"  classes ({spec.num_classes}): {', '.join(spec.class_names)}")
    if spec.task != Task.SEMANTIC:
        whole = spec.box_extent == BoxExtent.WHOLE
        print(f"  boxes: {'whole objects, hidden parts included' if whole else 'the visible pixels'} "
              f"(box_extent {spec.box_extent.value})")
    if spec.stuff or spec.things:
        print(f"  stuff {list(spec.stuff)}, things {list(spec.things)}")
    q = spec.quantization
    print(f"  precision {q.precision.value}" + (f" via {q.method}" if q.method else "")
          + (f", {q.calibration_images} calibration images" if q.calibration_images else "")
          + (f", kept in float: {', '.join(q.float_nodes)}" if q.float_nodes else ""))
    if spec.source_hash or spec.converter_version:
        print(f"  source {spec.source_hash or '?'}, converter {spec.converter_version or '?'}")
    return 0


def _tensor_doc(t) -> dict:
    return {"name": t.name, "shape": list(t.shape), "dtype": str(np.dtype(t.dtype)), "quant": t.quant}


def cmd_run(args: argparse.Namespace) -> int:
    from edgeseg.cli.progress import Progress
    from edgeseg.media import collect_sources, read_image, video_frames
    from edgeseg.results import InstanceResult
    from edgeseg.segmenter import load

    sources = collect_sources(args.inputs)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    seg = load(args.model, backend=args.backend, device=args.device, threads=args.threads)
    seg.instance = decode_options(seg.spec, args)
    coco: list[dict] = []
    images: list[dict] = []
    failures: list[str] = []
    stages = np.zeros(3)
    frames = 0
    total = sum(1 for s in sources if s.kind == "image") or None
    with seg, Progress(total, "frames", enabled=not args.quiet) as bar:
        for src in sources:
            try:
                if src.kind == "image":
                    frame = read_image(src.path)
                    result = seg(frame)
                    image_id = len(images)
                    images.append({"id": image_id, "file_name": str(src.path), "height": frame.shape[0],
                                   "width": frame.shape[1]})
                    _write_outputs(out_dir / src.path.stem, frame, result, args.no_overlay)
                    if isinstance(result, InstanceResult):
                        coco.extend(result.to_coco(image_id=image_id))
                    stages += _stage_ms(result)
                    frames += 1
                    bar.update()
                    continue
                count, fps, it = video_frames(src.path)
                writer = None
                with open(out_dir / f"{src.path.stem}.jsonl", "w", encoding="utf-8") as lines:
                    for k, frame in enumerate(it):
                        result = seg(frame)
                        lines.write(json.dumps({"frame": k, **result.to_dict()}) + "\n")
                        if not args.no_overlay:
                            if writer is None:
                                h, w = frame.shape[:2]
                                writer = cv2.VideoWriter(str(out_dir / f"{src.path.stem}.overlay.mp4"),
                                                         cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                            writer.write(result.overlay(frame))
                        stages += _stage_ms(result)
                        frames += 1
                        bar.update()
                if writer is not None:
                    writer.release()
            except EdgeSegError as exc:
                failures.append(f"{src.path}: {exc}")
    if coco:
        (out_dir / "coco_results.json").write_text(json.dumps(coco))
        (out_dir / "coco_images.json").write_text(json.dumps(images))
    if frames:
        pre, inf, dec = stages / frames
        print(f"{frames} frames → {out_dir}  mean ms: preprocess {pre:.2f}, inference {inf:.2f}, decode {dec:.2f} "
              f"({1000 / max(pre + inf + dec, 1e-9):.1f} FPS)")
    for f in failures:
        print(f"failed: {f}", file=sys.stderr)
    return 1 if failures else 0


def _stage_ms(result) -> np.ndarray:
    t = result.timings
    return np.array([t.preprocess_ms, t.inference_ms, t.decode_ms])


def _write_outputs(stem: Path, frame: np.ndarray, result, no_overlay: bool) -> None:
    stem.with_suffix(".json").write_text(result.to_json())
    if not no_overlay:
        cv2.imwrite(str(stem.with_suffix(".overlay.png")), result.overlay(frame))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="edgeseg", description="Run segmentation models on edge devices.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="this device: CPU, installed backends and devices, what load() would pick")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("inspect", help="a model's edgeseg spec, inputs and outputs")
    p.add_argument("model", help="model file (.onnx, .xml, .tflite) or a shipped model's name")
    p.add_argument("--backend", choices=["onnxruntime", "openvino", "tflite"], help="runtime used to open it")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("run", help="segment images, folders or videos; write overlays and JSON/COCO",
                       description="Segment images, folders of images, or videos. Writes, per image, "
                                   "<name>.json and <name>.overlay.png; per video, <name>.jsonl (one line per "
                                   "frame) and <name>.overlay.mp4; for instance models coco_results.json.")
    p.add_argument("model", help="model file (.onnx, .xml, .tflite) or a shipped model's name")
    p.add_argument("inputs", nargs="+", help="image files, folders of images, or video files")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    add_model_options(p)
    add_decode_options(p)
    p.add_argument("--no-overlay", action="store_true", help="skip overlay images/videos")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    from edgeseg.bench import cli as bench_cli
    from edgeseg.bench import evaluate, scenes
    from edgeseg.cli import demo
    from edgeseg.convert import cli as export_cli

    scenes.build_parser(sub)
    evaluate.build_parser(sub)
    demo.build_parser(sub)
    export_cli.build_parser(sub)
    bench_cli.build_parser(sub)

    return ap


def main(argv: list[str] | None = None) -> int:
    from edgeseg.cli.commands import run

    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
