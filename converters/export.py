"""One call from a `Source` to files on disk and a parity report: `export(src, out_dir, ExportOptions(...))`.

Files (stem = the model's name): `<stem>.onnx`, `<stem>.xml/.bin`, `<stem>.tflite` and, with INT8,
`<stem>.int8.onnx`, `<stem>.int8.xml/.bin`, `<stem>.int8.tflite`; `report.json` beside them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from edgeseg.convert import formats, int8, parity
from edgeseg.convert.files import ConversionError
from edgeseg.convert.source import Source
from edgeseg.decode import decode
from edgeseg.errors import InputError
from edgeseg.segmenter import default_instance_options
from edgeseg.spec import Task

FORMATS = ("onnx", "openvino", "tflite")


class DropTooLarge(ConversionError):
    """An INT8 file lost more accuracy than `max_drop` allows; the report was still written."""

    exit_code = 3


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """formats: any of "onnx", "openvino", "tflite" (ONNX is always written: OpenVINO starts from it).
    int8: also write INT8 files, calibrated on `calib` (a folder of images or an iterable of frames).
    holdout: frames for the parity report (default: the last `holdout_count` calibration frames, which are
    then left out of calibration). max_drop: INT8 accuracy drop (points) beyond which export fails."""

    formats: tuple[str, ...] = ("onnx",)
    int8: bool = False
    calib: str | Path | Iterable[np.ndarray] | None = None
    holdout: str | Path | Iterable[np.ndarray] | None = None
    holdout_count: int = 16
    calib_limit: int = 300
    max_drop: float | None = None
    fold_preprocess: bool = False
    fold_argmax: bool = False
    openvino_fp16: bool = False
    keep_heads_float: bool = True  # the heads' last layers stay in float in ONNX and OpenVINO INT8
    threads: int | None = None
    progress: bool = True


def _frames(opts: ExportOptions) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(calibration frames, held-out frames)."""
    calib = int8.calibration_frames(opts.calib, opts.calib_limit) if opts.calib is not None else []
    if opts.holdout is not None:
        return calib, int8.calibration_frames(opts.holdout, purpose="held-out frames", warn=False)
    if len(calib) < 2:
        return calib, calib
    k = min(opts.holdout_count, max(1, len(calib) // 5))
    return calib[:-k], calib[-k:]


def _onnx_source(path: Path, opts: ExportOptions):
    """(path, spec) of a ready ONNX file, checked for what can be made from it."""
    from edgeseg.spec_io import read_spec

    if path.suffix.lower() != ".onnx" or not path.is_file():
        raise InputError(f"{path}: expected an edgeseg.convert.Source or an existing .onnx file")
    spec = read_spec(path)
    if spec is None:
        raise InputError(f"{path}: the ONNX file carries no edgeseg spec; declare the model as an "
                         "edgeseg.convert.Source, or embed one with edgeseg.spec_io.write_spec")
    if "tflite" in opts.formats:
        raise InputError("TFLite is made from the PyTorch model, not from ONNX (the ONNX→TFLite tools "
                         "available here scramble or refuse instance heads: TOOLCHAIN.md)")
    if opts.fold_preprocess or opts.fold_argmax:
        raise InputError("folding preprocessing or arg-max needs the PyTorch model, not a ready ONNX file")
    return path, spec


def export(src: Source | str | Path, out_dir: str | Path, opts: ExportOptions = ExportOptions()) -> list[parity.Row]:
    """Write the files `opts` asks for and, given held-out frames, the parity report.

    src: a `Source` (PyTorch), or a path to a ready ONNX file that carries its spec (then OpenVINO and the
    INT8 files are made from it, TFLite is not, and the FP32 ONNX on onnxruntime is the parity reference).
    """
    onnx_source = None if isinstance(src, Source) else _onnx_source(Path(src), opts)
    unknown = [f for f in opts.formats if f not in FORMATS]
    if unknown:
        raise InputError(f"unknown formats {unknown}; expected some of {list(FORMATS)}")
    if opts.int8 and opts.calib is None:
        raise InputError("INT8 needs calibration images (calib=folder or frames)")
    if opts.fold_argmax and opts.int8:
        raise InputError("fold_argmax and int8 together: quantize the logits model, fold arg-max after")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    calib, holdout = _frames(opts)
    files: list[tuple[str, Path]] = []
    if onnx_source is not None:
        onnx_spec = onnx_source[1]
        stem = onnx_spec.name or onnx_source[0].stem
        onnx_path = out / f"{stem}.onnx"
        if onnx_path.resolve() != onnx_source[0].resolve():
            shutil.copyfile(onnx_source[0], onnx_path)
    else:
        stem = src.name or "model"
        onnx_path = out / f"{stem}.onnx"
        onnx_spec = formats.export_onnx(src, onnx_path, fold_preprocess=opts.fold_preprocess,
                                        fold_argmax=opts.fold_argmax)
    files.append(("onnx", onnx_path))
    if "openvino" in opts.formats:
        xml = out / f"{stem}.xml"
        formats.export_openvino(onnx_path, onnx_spec, xml, fp16=opts.openvino_fp16)
        files.append(("openvino", xml))
    if "tflite" in opts.formats:
        tfl = out / f"{stem}.tflite"
        tfl_spec = formats.export_tflite(src, tfl)
        files.append(("tflite", tfl))
    if opts.int8:
        tensors = int8.calibration_tensors(calib, onnx_spec.input)
        if "onnx" in opts.formats:
            q = out / f"{stem}.int8.onnx"
            int8.quantize_onnx(onnx_path, onnx_spec, tensors, q, progress=opts.progress,
                               keep_heads_float=opts.keep_heads_float)
            files.append(("onnx", q))
        if "openvino" in opts.formats:
            q = out / f"{stem}.int8.xml"
            int8.quantize_openvino(out / f"{stem}.xml", onnx_spec, tensors, q, progress=opts.progress,
                                   float_nodes=int8.head_nodes(onnx_path) if opts.keep_heads_float else ())
            files.append(("openvino", q))
        if "tflite" in opts.formats:
            q = out / f"{stem}.int8.tflite"
            float_tensors = int8.calibration_tensors(calib, tfl_spec.input)
            int8.quantize_tflite(out / f"{stem}.tflite", tfl_spec, float_tensors, q)
            files.append(("tflite", q))
    if "onnx" not in opts.formats:
        files = [(f, p) for f, p in files if not (f == "onnx" and p == onnx_path)]
    if not holdout:
        return []
    if onnx_source is None:
        ref_spec = src.spec()
        options = default_instance_options(ref_spec)  # the operating point the files carry too
        reference = parity.torch_results(src, ref_spec, holdout,
                                         lambda raw, t: decode(raw, ref_spec, t, instance=options))
        ref_name = "PyTorch decoded with the same decoder"
    else:
        from edgeseg.segmenter import load

        with load(onnx_path, backend="onnxruntime", threads=opts.threads) as seg:
            reference = [seg(f) for f in holdout]
        ref_name = "the FP32 ONNX file on onnxruntime"
    task = onnx_spec.task
    rows = [parity.measure(p, fmt, holdout, reference, task, onnx_spec.num_classes, opts.threads)
            for fmt, p in files]
    key = "miou" if task == Task.SEMANTIC else "mask_ap50"
    parity.fill_drops(rows, key)
    parity.print_table(rows, key)
    parity.write_report(rows, out / "report.json",
                        {"model": stem, "holdout_frames": len(holdout), "calibration_frames": len(calib),
                         "reference": ref_name, "metric": key,
                         "max_drop": opts.max_drop})
    if opts.max_drop is not None:
        bad = [r for r in rows if r.drop is not None and r.drop > opts.max_drop]
        if bad:
            raise DropTooLarge("INT8 accuracy drop beyond --max-drop "
                               f"{opts.max_drop} points: " + ", ".join(f"{r.format} {r.drop:.2f}" for r in bad)
                               + f" (report: {out / 'report.json'})")
    return rows
