"""`edgeseg export MODEL --formats onnx,openvino,tflite [--int8 --calib DIR] [--max-drop PTS] --out DIR`.

MODEL is one of
- a reference model's name (`parts-seg`, `parts-inst`): its PyTorch weights ship with edgeseg.convert;
- `package.module:name`, importable here, naming an `edgeseg.convert.Source`, or a function returning one;
- a ready `.onnx` file that carries an edgeseg spec (OpenVINO and INT8 files are made from it; TFLite is
  not: it needs the PyTorch model).

`--box-extent whole` tells the runtime that an instance model's boxes enclose each object whole, hidden and
cut-off pixels included (a model trained on amodal boxes), so `edgeseg eval` scores them against whole boxes;
the default is what the Source declares (`visible` unless it says otherwise).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from pathlib import Path

from edgeseg.cli.commands import command_parser, run
from edgeseg.errors import InputError


def resolve_source(model: str):
    from edgeseg.convert.source import Source

    if model.lower().endswith(".onnx"):
        return Path(model)
    if ":" in model:
        mod_name, _, attr = model.partition(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"{model}: cannot import {attr!r} from {mod_name!r} ({exc})") from None
        if callable(obj) and not isinstance(obj, Source):
            obj = obj()
        if not isinstance(obj, Source):
            raise InputError(f"{model}: expected an edgeseg.convert.Source (or a function returning one), got "
                             f"{type(obj).__name__}; wrap an nn.Module with Source(module=..., task=..., ...)")
        return obj
    from edgeseg.convert import reference

    if model in reference.REFERENCE_NAMES:
        return reference.source(model)
    raise InputError(f"{model}: unknown source; expected a reference model name {list(reference.REFERENCE_NAMES)} "
                     "or package.module:name of an edgeseg.convert.Source")


def with_box_extent(src, extent: str | None):
    """The Source with what its boxes enclose overridden (None: as declared)."""
    if extent is None:
        return src
    from edgeseg.convert.source import Source
    from edgeseg.spec import BoxExtent

    if not isinstance(src, Source):
        raise InputError(f"--box-extent: {src} is a ready ONNX file, whose spec says what its boxes enclose; "
                         "change it with edgeseg.spec_io.write_spec, or export from the PyTorch model")
    return src.with_(box_extent=BoxExtent(extent))


def cmd_export(args: argparse.Namespace) -> int:
    from edgeseg.convert.export import ExportOptions, export

    fmts = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    src = with_box_extent(resolve_source(args.model), args.box_extent)
    opts = ExportOptions(formats=fmts, int8=args.int8, calib=args.calib, holdout=args.holdout,
                         calib_limit=args.calib_limit,
                         max_drop=args.max_drop, fold_preprocess=args.fold_preprocess, fold_argmax=args.fold_argmax,
                         openvino_fp16=args.fp16, threads=args.threads, progress=not args.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        rows = export(src, args.out, opts)
    written = sorted(p.name for p in Path(args.out).iterdir() if ".partial" not in p.name)
    print(f"wrote {', '.join(written)} → {args.out}")
    if not rows:
        print("no parity report: pass --calib or --holdout images to compare the files with PyTorch")
    return 0


def build_parser(sub=None) -> argparse.ArgumentParser:
    text = dict(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p = command_parser(sub, "export", "export a PyTorch model to ONNX / OpenVINO / TFLite, FP32 and INT8, "
                                          "with a parity report", **text)
    p.add_argument("model", help="reference model name or package.module:name of a Source")
    p.add_argument("--formats", default="onnx", help="comma-separated: onnx,openvino,tflite (default onnx)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--int8", action="store_true", help="also write INT8 files (needs --calib)")
    p.add_argument("--calib", help="folder of calibration images, or a data set folder with images/ in it such as "
                                   "`edgeseg scenes` writes (the last few are held out for the report unless "
                                   "--holdout is given)")
    p.add_argument("--holdout", help="folder of held-out images for the parity report (or a data set folder)")
    p.add_argument("--calib-limit", type=int, default=300, help="use at most this many calibration images "
                                                                "(default 300; large inputs need memory per image)")
    p.add_argument("--max-drop", type=float, help="fail (exit 3) when an INT8 file loses more than this many "
                                                  "points of mIoU / mask AP50 against FP32")
    p.add_argument("--fold-preprocess", action="store_true", help="ONNX takes uint8 NHWC pixels (normalization "
                                                                   "and layout in the graph)")
    p.add_argument("--fold-argmax", action="store_true", help="semantic ONNX outputs the class map")
    p.add_argument("--box-extent", choices=("visible", "whole"),
                   help="instance models: whether boxes enclose the visible pixels or the whole object, hidden "
                        "and cut-off pixels included (default: what the Source declares)")
    p.add_argument("--fp16", action="store_true", help="OpenVINO weights in FP16 (default FP32)")
    p.add_argument("--threads", type=int, help="threads for the parity runs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_export)
    return p


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
