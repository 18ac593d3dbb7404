"""FP32 exports: PyTorch → ONNX (one file, opset ≥ 17, simplified) → OpenVINO IR; PyTorch → TFLite.

Each writer returns the `ModelSpec` it embedded, names that file's own inputs and outputs in it, and
publishes the file only once it is complete (see `edgeseg.convert.files`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from edgeseg.backends import require
from edgeseg.convert.files import ConversionError, partial_path, publish, quiet_openvino_telemetry, step
from edgeseg.convert.source import Source
from edgeseg.spec import DecoderKind, InputDType, Layout, ModelSpec, OutputRole, OutputSpec, Precision, Quantization
from edgeseg.spec_io import write_spec


def _torch():
    return require("torch", "convert")


def wrap(src: Source, *, fold_preprocess: bool = False, fold_argmax: bool = False):
    """The module actually exported: optional uint8 NHWC input with normalization folded in, optional
    arg-max folded into a semantic head, outputs always a tuple."""
    torch = _torch()
    norm = src.normalization

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = src.module
            if fold_preprocess and norm is not None:
                std = torch.tensor(norm.std, dtype=torch.float32).view(1, 3, 1, 1)
                mean = torch.tensor(norm.mean, dtype=torch.float32).view(1, 3, 1, 1)
                self.register_buffer("mul", norm.scale / std)
                self.register_buffer("sub", mean / std)

        def forward(self, x):
            if fold_preprocess:
                x = x.permute(0, 3, 1, 2).float()
                if norm is not None:
                    x = x * self.mul - self.sub
            out = self.inner(x)
            out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
            if fold_argmax:
                out = (out[0].argmax(1).to(torch.uint8),) + out[1:]
            return out

    return Exported().eval()


def example_input(src: Source, *, fold_preprocess: bool = False, seed: int = 0):
    torch = _torch()
    h, w = src.input_hw
    rng = np.random.default_rng(seed)
    if fold_preprocess:
        return torch.from_numpy(rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8))
    return torch.from_numpy(rng.random((1, 3, h, w), dtype=np.float32))


def export_onnx(src: Source, path: Path, *, opset: int = 17, fold_preprocess: bool = False,
                fold_argmax: bool = False, simplify: bool = True) -> ModelSpec:
    """One self-contained ONNX file with the spec in metadata_props.

    fold_preprocess: the graph takes uint8 NHWC pixels and normalizes itself.
    fold_argmax: a semantic graph outputs the class map (uint8) instead of logits.
    """
    torch = _torch()
    onnx = require("onnx", "convert")
    if fold_argmax and src.decoder != DecoderKind.MASK_LOGITS:
        raise ConversionError(f"fold_argmax applies to semantic logits, not to a {src.decoder.value!r} model")
    if opset < 17:
        raise ConversionError(f"opset {opset}: edgeseg exports opset 17 or newer")
    part = partial_path(path)
    module = wrap(src, fold_preprocess=fold_preprocess, fold_argmax=fold_argmax)
    outputs = src.outputs
    if fold_argmax:
        outputs = (OutputSpec(name=outputs[0].name, role=OutputRole.CLASS_MAP),) + outputs[1:]
    with step("ONNX export (torch.onnx.export)", part):
        torch.onnx.export(module, (example_input(src, fold_preprocess=fold_preprocess),), str(part),
                          dynamo=False, opset_version=opset, input_names=[src.input_name],
                          output_names=[o.name for o in outputs])
    if simplify:
        with step("ONNX simplification (onnxslim)", part):
            onnxslim = require("onnxslim", "convert")
            model = onnxslim.slim(onnx.load(str(part)))
            onnx.save(model, str(part))
    spec = src.spec(outputs=outputs,
                    input_spec=src.input_spec(layout=Layout.NHWC, dtype=InputDType.UINT8, folded=True)
                    if fold_preprocess else None,
                    decoder=DecoderKind.CLASS_MAP if fold_argmax else None)
    write_spec(part, spec)
    publish(part, path)
    return spec


def export_openvino(onnx_path: Path, spec: ModelSpec, path: Path, *, fp16: bool = False) -> ModelSpec:
    """OpenVINO IR (.xml + .bin) from the ONNX file: FP32 weights unless `fp16` is asked for."""
    quiet_openvino_telemetry()
    ov = require("openvino", "openvino")
    part = partial_path(path)
    with step("OpenVINO conversion (convert_model/save_model)", part):
        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(part), compress_to_fp16=fp16)
    spec = spec.replace(quantization=Quantization(precision=Precision.FP16 if fp16 else Precision.FP32))
    write_spec(part, spec)
    publish(part, path)
    return spec


def tflite_io_names(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(input names, output names) of a .tflite file as the TFLite backend reports them."""
    from edgeseg.backends import BackendOptions, open_backend

    be = open_backend(path, "tflite", BackendOptions())
    try:
        return tuple(t.name for t in be.inputs), tuple(t.name for t in be.outputs)
    finally:
        be.close()


def renamed(spec: ModelSpec, input_names: tuple[str, ...], output_names: tuple[str, ...]) -> ModelSpec:
    """The spec with the file's own input/output names, matched by position."""
    if len(output_names) != len(spec.outputs):
        raise ConversionError(f"the converted file has outputs {list(output_names)}, the model declares "
                              f"{[o.name for o in spec.outputs]}")
    outs = tuple(OutputSpec(name=n, role=o.role) for n, o in zip(output_names, spec.outputs))
    inp = spec.input.__class__(**{**spec.input.__dict__, "name": input_names[0]})
    return spec.replace(outputs=outs, input=inp)


def export_tflite(src: Source, path: Path) -> ModelSpec:
    """Float32 .tflite via litert-torch; the input stays NCHW float32 as the module takes it."""
    part = partial_path(path)
    module = _named_io(src)
    with step("TFLite conversion (litert_torch.convert)", part, quiet=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.export internals
        litert_torch = require("litert_torch", "convert")  # imported here: its import is chatty too
        litert_torch.convert(module, sample_kwargs={"images": example_input(src)}).export(str(part))
    ins, outs = tflite_io_names(part)
    spec = renamed(src.spec(), ins, outs)
    write_spec(part, spec)
    publish(part, path)
    return spec


def _named_io(src: Source):
    """A wrapper taking `images` by keyword and returning a dict, so the TFLite signature carries names
    (litert-torch would call them args_0, output_0, ...); `tflite_io_names` reads back what the file has."""
    torch = _torch()
    names = [o.name for o in src.outputs]
    inner = wrap(src)

    class Named(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, images):
            return dict(zip(names, self.inner(images)))

    return Named().eval()
