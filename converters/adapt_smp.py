"""segmentation_models_pytorch (smp) models → `Source` (decoder "mask-logits").

smp models (Unet, FPN, DeepLabV3+, ...) return logits (1, C, H, W) at input resolution, or
`(logits, labels)` when built with `aux_params`; the wrapper returns the logits. A one-channel (binary)
model is exported as two channels, [threshold, z], so the arg-max decoder marks a pixel foreground
exactly where z passes the model's own threshold (0 for logits, 0.5 after a sigmoid activation).

Normalization is the encoder's, read without any download: the encoder's local pretrained settings when
the installed smp keeps mean/std there, timm's pretrained config for "tu-" encoders, else ImageNet
mean/std (smp's own default for its encoders). Pass `normalization=` to state what the model was
trained with. RGB; letterbox with the mean pixel as padding (see `adapt_torchvision`).
H and W must be multiples of the encoder's output stride (32 for most encoders).
"""

from __future__ import annotations

from typing import Any, Sequence

from edgeseg.backends import require
from edgeseg.convert.adapt_torchvision import IMAGENET_MEAN, IMAGENET_STD, _prepared, check_input_hw
from edgeseg.convert.source import Source
from edgeseg.errors import InputError
from edgeseg.spec import ColorOrder, DecoderKind, Normalization, OutputRole, OutputSpec, ResizeMode, Task

torch = require("torch", "convert")


def encoder_normalization(model: Any) -> tuple[Normalization, ColorOrder]:
    """The normalization and colour order an smp model's encoder was pretrained with (ImageNet/RGB if unknown)."""
    settings = _encoder_settings(model)
    mean = tuple(settings.get("mean") or IMAGENET_MEAN)
    std = tuple(settings.get("std") or IMAGENET_STD)
    top = float(max(settings.get("input_range") or (0, 1)))
    color = ColorOrder.BGR if str(settings.get("input_space", "RGB")).upper() == "BGR" else ColorOrder.RGB
    # smp scales 0..255 pixels to input_range first: /255 for [0, 1], nothing for [0, 255].
    scale = 1.0 / 255.0 if top <= 1.0 else 1.0
    return Normalization(scale=scale, mean=mean, std=std), color  # type: ignore[arg-type]


def _encoder_settings(model: Any) -> dict:
    config = getattr(model, "config", None)
    config = config if isinstance(config, dict) else {}
    encoder = config.get("encoder_name")
    weights = config.get("encoder_weights")
    if not encoder:
        return {}
    if encoder.startswith("tu-"):
        try:
            import timm  # smp depends on it; its pretrained configs are local data
            cfg = timm.models.get_pretrained_cfg(encoder[3:])
        except Exception:  # an unknown name or an old timm: fall back to the default
            return {}
        return {"mean": getattr(cfg, "mean", None), "std": getattr(cfg, "std", None)} if cfg is not None else {}
    try:
        from segmentation_models_pytorch.encoders import encoders
    except ImportError:
        return {}
    pretrained = encoders.get(encoder, {}).get("pretrained_settings", {})
    entry = pretrained.get(weights) or pretrained.get("imagenet") or {}
    return {k: entry[k] for k in ("mean", "std", "input_range", "input_space") if k in entry}


class _Logits(torch.nn.Module):
    """x (1, 3, H, W) → logits (1, C, H, W); one channel z becomes [threshold, z]."""

    def __init__(self, net: torch.nn.Module, binary_threshold: float | None) -> None:
        super().__init__()
        self.net = net
        self.binary_threshold = binary_threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if self.binary_threshold is not None:
            out = torch.cat([torch.full_like(out, self.binary_threshold), out], 1)
        return out


def _activation_is_sigmoid(net: Any) -> bool:
    act = getattr(getattr(net, "segmentation_head", None), "activation", None)
    inner = getattr(act, "activation", act)  # smp wraps the activation in its own Activation module
    return type(inner).__name__ == "Sigmoid"


def from_smp(model: Any, *, input_hw: Sequence[int], class_names: Sequence[str],
             normalization: Normalization | None = None, name: str = "") -> Source:
    """An smp segmentation model as a `Source`. class_names: one per output channel; for a one-channel
    (binary) model give two names, background first."""
    net = _prepared(model)
    stride = int(getattr(getattr(net, "encoder", None), "output_stride", 1) or 1)
    hw = check_input_hw(input_hw, stride)
    with torch.no_grad():
        out = net(torch.zeros(1, 3, *hw))
    logits = out[0] if isinstance(out, (tuple, list)) else out
    if not hasattr(logits, "ndim") or logits.ndim != 4 or logits.shape[0] != 1:
        raise InputError(f"expected an smp model returning logits (1, C, H, W), got "
                         f"{getattr(logits, 'shape', type(logits).__name__)}")
    channels = int(logits.shape[1])
    binary = channels == 1
    names = tuple(str(c) for c in class_names)
    want = 2 if binary else channels
    if len(names) != want:
        detail = "a one-channel model needs two: background and the class" if binary else "one per channel"
        raise InputError(f"class_names: expected {want} names ({detail}), got {len(names)}")
    norm, color = encoder_normalization(net)
    norm = normalization or norm
    pad = int(round(sum(norm.mean) / 3.0 / norm.scale))  # the mean pixel: ≈ 0 after normalization
    threshold = (0.5 if _activation_is_sigmoid(net) else 0.0) if binary else None
    label = str(getattr(net, "name", "") or type(model).__name__.lower())
    return Source(module=_Logits(net, threshold).eval(), task=Task.SEMANTIC, decoder=DecoderKind.MASK_LOGITS,
                  outputs=(OutputSpec(name="logits", role=OutputRole.LOGITS),), class_names=names, input_hw=hw,
                  color=color, resize=ResizeMode.LETTERBOX, pad_value=min(max(pad, 0), 255), normalization=norm,
                  name=name or label)
