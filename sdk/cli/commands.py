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
    """--conf, --iou, --max-det: override the model's own operating point (spec.decode_defaults)."""
    p.add_argument("--conf", type=float, help="instance confidence threshold (default: the model's own)")
    p.add_argument("--iou", type=float, help="NMS IoU threshold (default: the model's own)")
    p.add_argument("--max-det", type=int, help="most instances per frame (default: the model's own)")
