"""What every converter starts from: a PyTorch module with a declared input and output layout.

A `Source` says what the module takes (one NCHW float32 tensor of `input_hw`, normalized per
`normalization`) and what each of its returned tensors means (`outputs`, in return order). Adapters
(`edgeseg.convert.adapt_*`) turn the models people have into a `Source`; any `nn.Module` can be declared
directly. The spec each exported file carries is made from it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgeseg import __version__
from edgeseg.errors import InputError
from edgeseg.spec import (BoxExtent, ColorOrder, DecodeDefaults, DecoderKind, InputDType, InputSpec, Layout, ModelSpec,
                          Normalization, OutputSpec, Quantization, ResizeMode, Task)

CONVERTER_VERSION = f"edgeseg {__version__}"


def state_hash(module: Any) -> str:
    """sha256 of a module's state dict, names and raw bytes in key order: the spec's `source_hash`."""
    h = hashlib.sha256()
    for key, value in module.state_dict().items():
        h.update(key.encode())
        h.update(np.ascontiguousarray(value.detach().cpu().numpy()).tobytes())
    return h.hexdigest()


@dataclass(frozen=True, kw_only=True)
class Source:
    """module: forward(x (1, 3, H, W) float32) → tensor or tuple of tensors, in the order of `outputs`."""

    module: Any  # torch.nn.Module (typed loosely: the runtime never imports torch)
    task: Task
    decoder: DecoderKind
    outputs: tuple[OutputSpec, ...]
    class_names: tuple[str, ...]
    input_hw: tuple[int, int]
    input_name: str = "images"
    color: ColorOrder = ColorOrder.RGB
    resize: ResizeMode = ResizeMode.LETTERBOX
    pad_value: int = 114
    normalization: Normalization | None = field(default_factory=Normalization)
    num_mask_coeffs: int = 0
    box_extent: BoxExtent = BoxExtent.VISIBLE
    stuff: tuple[int, ...] = ()
    things: tuple[int, ...] = ()
    decode_defaults: DecodeDefaults = field(default_factory=DecodeDefaults)
    name: str = ""

    def __post_init__(self) -> None:
        if not hasattr(self.module, "forward") or not hasattr(self.module, "state_dict"):
            raise InputError(f"expected a torch.nn.Module, got {type(self.module).__name__}")
        self.spec()  # validates the declaration now, not after a long export

    def input_spec(self, *, layout: Layout = Layout.NCHW, dtype: InputDType = InputDType.FLOAT32,
                   folded: bool = False) -> InputSpec:
        return InputSpec(name=self.input_name, size_hw=self.input_hw, layout=layout, dtype=dtype, color=self.color,
                         resize=self.resize, pad_value=self.pad_value,
                         normalization=None if folded else self.normalization)

    def spec(self, *, outputs: tuple[OutputSpec, ...] | None = None, input_spec: InputSpec | None = None,
             quantization: Quantization | None = None, decoder: DecoderKind | None = None) -> ModelSpec:
        """The spec of an exported file; formats that rename outputs or inputs pass their own."""
        return ModelSpec(task=self.task, decoder=decoder or self.decoder, input=input_spec or self.input_spec(),
                         outputs=outputs or self.outputs, class_names=self.class_names, stuff=self.stuff,
                         things=self.things, num_mask_coeffs=self.num_mask_coeffs,
                         box_extent=self.box_extent,
                         quantization=quantization or Quantization(), decode_defaults=self.decode_defaults,
                         source_hash=self.source_hash(),
                         converter_version=CONVERTER_VERSION, name=self.name)

    def source_hash(self) -> str:
        return state_hash(self.module)

    def with_(self, **changes: Any) -> "Source":
        return replace(self, **changes)
