"""The facade: `load(path)` → a `Segmenter` that is called on frames.

    with edgeseg.load("parts.onnx", threads=2) as seg:
        result = seg(frame)

One frame flows preprocess → backend.run → decode; each stage is timed with `perf_counter_ns` and the
times travel on the result (`result.timings`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from edgeseg.backends import Backend, BackendOptions, PerformanceHint, open_backend
from edgeseg.decode import InstanceOptions, PanopticOptions, SemanticOptions, decode
from edgeseg.errors import ModelLoadError, SpecError
from edgeseg.preprocess import Transform, preprocess
from edgeseg.results import InstanceResult, PanopticResult, SemanticResult, Timings
from edgeseg.spec import OPTIONAL_DECODE_KEYS, ColorOrder, ModelSpec

Result = SemanticResult | InstanceResult | PanopticResult


class Segmenter:
    """A loaded model: call it on an H×W×3 uint8 frame (BGR unless `frame_color` says otherwise)."""

    def __init__(self, backend: Backend, spec: ModelSpec, *, instance: InstanceOptions = InstanceOptions(),
                 semantic: SemanticOptions = SemanticOptions(), panoptic: PanopticOptions | None = None,
                 frame_color: ColorOrder = ColorOrder.BGR, path: Path | None = None) -> None:
        check_spec_matches(spec, backend)
        self.backend = backend
        self.spec = spec
        self.instance = instance
        self.semantic = semantic
        self.panoptic = panoptic
        self.frame_color = frame_color
        self.path = path

    def __call__(self, frame: np.ndarray) -> Result:
        t0 = time.perf_counter_ns()
        tensor, t = preprocess(frame, self.spec.input, frame_color=self.frame_color)
        t1 = time.perf_counter_ns()
        raw = self.backend.run({self.spec.input.name: tensor})
        t2 = time.perf_counter_ns()
        result = self.decode(raw, t)
        t3 = time.perf_counter_ns()
        return replace(result, timings=Timings((t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6))

    def infer(self, frame: np.ndarray) -> tuple[dict[str, np.ndarray], Transform]:
        """Preprocess and run, without decoding: (raw outputs by name, Transform)."""
        tensor, t = preprocess(frame, self.spec.input, frame_color=self.frame_color)
        return self.backend.run({self.spec.input.name: tensor}), t

    def decode(self, raw: dict[str, np.ndarray], t: Transform) -> Result:
        """Decode raw outputs (as `infer` returns them) with this segmenter's options."""
        return decode(raw, self.spec, t, instance=self.instance, semantic=self.semantic, panoptic=self.panoptic)

    def decoding(self) -> dict:
        """The decoding options in force for this model's task, as plain values: what a report of its
        figures must record beside them (an instance model's counts depend on conf, iou and the mask tests)."""
        task = self.spec.task.value
        opts = self.instance if task == "instance" else \
            (self.panoptic or PanopticOptions()) if task == "panoptic" else self.semantic
        return asdict(opts)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Segmenter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Segmenter({self.spec.name or self.path}, task={self.spec.task.value}, "
                f"backend={self.backend.name}, device={self.backend.device})")


def check_spec_matches(spec: ModelSpec, backend: Backend) -> None:
    """Raise `SpecError` when the spec names an input or output the model does not have."""
    inputs = {i.name: i for i in backend.inputs}
    if spec.input.name not in inputs:
        raise SpecError(f"spec.input.name is {spec.input.name!r}, but the model's inputs are {sorted(inputs)}")
    shape = inputs[spec.input.name].shape
    h, w = spec.input.size_hw
    want = (1, 3, h, w) if spec.input.layout.value == "NCHW" else (1, h, w, 3)
    if len(shape) != 4 or any(s is not None and s != x for s, x in zip(shape, want)):
        raise SpecError(f"spec.input says {spec.input.layout.value} {spec.input.size_hw}, so the model input "
                        f"should be {want}; the model has {shape}")
    outputs = {o.name for o in backend.outputs}
    missing = [o.name for o in spec.outputs if o.name not in outputs]
    if missing:
        raise SpecError(f"spec.outputs names {missing}, which the model does not have; its outputs are "
                        f"{sorted(outputs)}")


def default_instance_options(spec: ModelSpec, **overrides) -> InstanceOptions:
    """The model's validated operating point (spec.decode_defaults), with any of its fields overridden."""
    d = spec.decode_defaults
    base = dict(conf=d.conf, iou=d.iou, class_agnostic=d.class_agnostic, max_det=d.max_det,
                sure_same_class=d.sure_same_class,
                **{key: getattr(d, key) for key in OPTIONAL_DECODE_KEYS})
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "conf" in overrides and "rescue_conf" not in overrides:
        base["rescue_conf"] = None  # a confidence threshold of one's own means what it says: nothing below it
    base.update(overrides)
    return InstanceOptions(**base)


def resolve_model_path(path: str | Path) -> Path:
    """A file path, or the name of a model shipped with edgeseg (`edgeseg.assets`)."""
    p = Path(path)
    if p.exists():
        return p
    try:
        from edgeseg import assets
    except ImportError:
        assets = None  # type: ignore[assignment]
    if assets is not None and str(path) in assets.names():
        return assets.path(str(path))
    raise ModelLoadError(f"{path}: model file not found")


def load(path: str | Path, *, backend: str | None = None, device: str | None = None, threads: int | None = None,
         spec: ModelSpec | None = None, providers: tuple[str, ...] | None = None,
         performance_hint: PerformanceHint = PerformanceHint.LATENCY, xnnpack: bool = True,
         delegate: str | None = None, instance: InstanceOptions | None = None,
         semantic: SemanticOptions | None = None, panoptic: PanopticOptions | None = None,
         frame_color: ColorOrder = ColorOrder.BGR) -> Segmenter:
    """Open a model file (.onnx, .xml, .tflite) or a shipped model's name and return a `Segmenter`.

    backend: "onnxruntime", "openvino" or "tflite" (default: from the file suffix).
    device: provider alias or name (onnxruntime), device string (OpenVINO); TFLite takes "cpu" only
            (pass `delegate=` for an accelerator).
    threads: intra-op threads.  spec: a `ModelSpec` for a model file that carries none (or to override).
    instance: decoding options; default: the operating point stored in the model (spec.decode_defaults).
    """
    from edgeseg.spec_io import read_spec

    p = resolve_model_path(path)
    options = BackendOptions(device=device, threads=threads, providers=providers,
                             performance_hint=performance_hint, xnnpack=xnnpack, delegate=delegate)
    be = open_backend(p, backend, options)
    try:
        model_spec = spec or read_spec(p, be)
        if model_spec is None:
            raise SpecError(f"{p}: the model carries no edgeseg spec; export it with `edgeseg export`, or pass "
                            "spec=ModelSpec(...) to edgeseg.load")
        return Segmenter(be, model_spec, instance=instance or default_instance_options(model_spec),
                         semantic=semantic or SemanticOptions(), panoptic=panoptic, frame_color=frame_color, path=p)
    except BaseException:
        be.close()
        raise
