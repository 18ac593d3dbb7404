"""What every `edgeseg` subcommand shares: a parser that stands alone or joins the main CLI, and one way
to turn an `EdgeSegError` into a message and an exit status."""

from __future__ import annotations

import argparse
import sys


def command_parser(sub, name: str, help: str, **kwargs) -> argparse.ArgumentParser:
    """`edgeseg NAME`'s parser: added to the main CLI's subparsers `sub`, or standalone when `sub` is None."""
    if sub is None:
        return argparse.ArgumentParser(prog=f"edgeseg {name}", **kwargs)
    return sub.add_parser(name, help=help, **kwargs)


def run(parser: argparse.ArgumentParser, argv: list[str] | None, name: str | None = None) -> int:
    """Parse, call `args.func(args)`, and report an EdgeSegError as `edgeseg NAME: error: ...` (exit 2, or the
    error's own `exit_code`)."""
    from edgeseg.errors import EdgeSegError

    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EdgeSegError as exc:
        label = name or getattr(args, "command", None) or parser.prog.removeprefix("edgeseg ")
        print(f"edgeseg {label}: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--backend, --device, --threads: how `edgeseg.load` opens the model."""
    p.add_argument("--backend", choices=["onnxruntime", "openvino", "tflite"],
                   help="runtime to use (default: from the file suffix)")
    p.add_argument("--device", help="onnxruntime provider (cpu, cuda, tensorrt, or a full provider name) or "
                                    "OpenVINO device (CPU, GPU, NPU, AUTO)")
    p.add_argument("--threads", type=int, help="intra-op threads (default: the runtime's choice)")


def add_decode_options(p: argparse.ArgumentParser) -> None:
    """--conf, --iou, --max-det, --cross-class-mask-iou, --mask-iou, --sure-iou, --sure-same-class, --claim-share,
    --rescue-conf: override the model's own operating point (spec.decode_defaults)."""
    p.add_argument("--conf", type=float, help="instance confidence threshold (default: the model's own); setting it "
                                              "turns the model's --rescue-conf off unless that is given too")
    p.add_argument("--iou", type=float, help="NMS IoU threshold (default: the model's own)")
    p.add_argument("--max-det", type=int, help="most instances per frame (default: the model's own)")
    p.add_argument("--cross-class-mask-iou", type=fraction_or_off, metavar="M|off",
                   help="YOLO-seg class-agnostic NMS: boxes of different classes suppress each other only if "
                        "their masks overlap above M too; 'off' for box NMS alone (default: the model's own)")
    p.add_argument("--mask-iou", type=fraction_or_off, metavar="M|off",
                   help="YOLO-seg NMS: any two boxes overlapping above --iou suppress each other only if their "
                        "masks overlap above M too (replaces --cross-class-mask-iou); 'off' (default: the model's own)")
    p.add_argument("--sure-iou", type=fraction_or_off, metavar="S|off",
                   help="with a mask test: boxes overlapping above S suppress whatever their masks; 'off' "
                        "(default: the model's own)")
    p.add_argument("--sure-same-class", action=argparse.BooleanOptionalAction, default=None,
                   help="with --sure-iou: only boxes of one class suppress outright; the mask test decides pairs of "
                        "two classes (default: the model's own)")
    p.add_argument("--claim-share", type=fraction_or_off, metavar="F|off",
                   help="YOLO-seg: lay the masks down best first and keep a detection only if at least F of its "
                        "mask is pixels no better one took; 'off' (default: the model's own)")
    p.add_argument("--rescue-conf", type=fraction_or_off, metavar="C|off",
                   help="YOLO-seg with --claim-share: candidates scoring C up to --conf are kept too when the pixels "
                        "they add pass the claim test and are at least F of a typical detection's; 'off' (default: "
                        "the model's own)")


def _int_at_least(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ {least}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number ≥ 1 (frame counts: `scenes --count`, `demo --frames`)."""
    return _int_at_least(text, 1)


def whole_number(text: str) -> int:
    """A whole number ≥ 0 (counts where 0 means none, e.g. the training script's --eval-frames)."""
    return _int_at_least(text, 0)


def fraction_or_off(text: str) -> float:
    """A number in 0..1 (the decode options, `eval --min-visible`), or 'off' (returned as -1)."""
    if text.strip().lower() == "off":
        return -1.0  # decode_options: None, the option off
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in 0..1 or 'off', got {text!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in 0..1 or 'off', got {text!r}")
    return v


def decode_options(spec, args: argparse.Namespace):
    """The model's own instance options (spec.decode_defaults) with add_decode_options' flags applied."""
    from dataclasses import replace

    from edgeseg.segmenter import default_instance_options
    from edgeseg.spec import OPTIONAL_DECODE_KEYS

    given = {key: v for key in OPTIONAL_DECODE_KEYS if (v := getattr(args, key, None)) is not None}
    # InputError for a rescue without the claim test or at or above --conf.
    opts = default_instance_options(spec, conf=args.conf, iou=args.iou, max_det=args.max_det,
                                    sure_same_class=getattr(args, "sure_same_class", None),
                                    **{key: v for key, v in given.items() if v >= 0})
    off = {key: None for key, v in given.items() if v < 0}
    if "claim_share" in off and "rescue_conf" not in given:
        off["rescue_conf"] = None  # no rescue without the claim test
    return replace(opts, **off)
