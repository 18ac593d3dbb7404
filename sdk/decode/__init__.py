"""Decoders: pure functions from raw output arrays (+ spec and Transform) to results in frame coordinates.

`decode` picks the function from the spec's decoder kind through a table; each decoder is also usable on
its own (`decode_yolo_seg`, `decode_maskrcnn`, `decode_logits`, `decode_class_map`, `merge_panoptic`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import numpy as np

from edgeseg.decode.maskrcnn import decode_maskrcnn
from edgeseg.decode.options import InstanceOptions, PanopticOptions, SemanticOptions
from edgeseg.decode.panoptic import merge_panoptic
from edgeseg.decode.semantic import decode_class_map, decode_logits
from edgeseg.decode.yolo_seg import decode_yolo_seg
from edgeseg.errors import DecodeError
from edgeseg.preprocess import Transform
from edgeseg.results import InstanceResult, PanopticResult, SemanticResult
from edgeseg.spec import DecoderKind, ModelSpec, OutputRole, Task

__all__ = ["decode", "decode_yolo_seg", "decode_maskrcnn", "decode_logits", "decode_class_map",
           "merge_panoptic", "InstanceOptions", "SemanticOptions", "PanopticOptions"]

Raw = Mapping[str, np.ndarray]


def _get(raw: Raw, spec: ModelSpec, role: OutputRole) -> np.ndarray | None:
    out = spec.output(role)
    if out is None:
        return None
    if out.name not in raw:
        raise DecodeError(f"model outputs {sorted(raw)} lack {out.name!r}, which the spec names as "
                          f"the {role.value!r} output")
    return raw[out.name]


def _semantic(raw: Raw, spec: ModelSpec, t: Transform, opts: SemanticOptions) -> SemanticResult:
    logits = _get(raw, spec, OutputRole.LOGITS)
    if logits is not None:
        return decode_logits(logits, t, spec.class_names, opts)
    return decode_class_map(_get(raw, spec, OutputRole.CLASS_MAP), t, spec.class_names)


def _instance(raw: Raw, spec: ModelSpec, t: Transform, opts: InstanceOptions, nc: int,
              names: tuple[str, ...]) -> InstanceResult:
    if spec.decoder == DecoderKind.MASKRCNN:
        return decode_maskrcnn(boxes=_get(raw, spec, OutputRole.BOXES), labels=_get(raw, spec, OutputRole.LABELS),
                               scores=_get(raw, spec, OutputRole.SCORES), masks=_get(raw, spec, OutputRole.MASKS),
                               t=t, opts=opts, class_names=names)
    return decode_yolo_seg(protos=_get(raw, spec, OutputRole.PROTOS), t=t, nc=nc, nm=spec.num_mask_coeffs,
                           opts=opts, class_names=names, predictions=_get(raw, spec, OutputRole.PREDICTIONS),
                           boxes=_get(raw, spec, OutputRole.BOXES), scores=_get(raw, spec, OutputRole.SCORES),
                           coefficients=_get(raw, spec, OutputRole.COEFFICIENTS))


def _panoptic(raw: Raw, spec: ModelSpec, t: Transform, opts: PanopticOptions) -> PanopticResult:
    sem = _semantic(raw, spec, t, SemanticOptions())
    # The instance head predicts the thing classes only, in the order of `spec.things`.
    inst = _instance(raw, spec, t, opts.instance, len(spec.things), ())
    things = np.asarray(spec.things, dtype=np.int32)
    if len(inst) and spec.decoder == DecoderKind.YOLO_SEG:
        inst = replace(inst, class_id=things[inst.class_id])  # Mask R-CNN labels already index class_names
    return merge_panoptic(sem, inst, stuff=spec.stuff, opts=opts, class_names=spec.class_names)


def decode(raw: Raw, spec: ModelSpec, t: Transform, *, instance: InstanceOptions = InstanceOptions(),
           semantic: SemanticOptions = SemanticOptions(), panoptic: PanopticOptions | None = None
           ) -> SemanticResult | InstanceResult | PanopticResult:
    """raw outputs by name → the result type of `spec.task`."""
    if spec.task == Task.SEMANTIC:
        return _semantic(raw, spec, t, semantic)
    if spec.task == Task.INSTANCE:
        return _instance(raw, spec, t, instance, spec.num_classes, spec.class_names)
    return _panoptic(raw, spec, t, panoptic or PanopticOptions(instance=instance))


