"""Export your own PyTorch segmentation model: declare its input and outputs, then export and compare.

    python examples/export_custom_model.py calibration_images/ out/
"""

import sys

import torch

from edgeseg.convert.export import ExportOptions, export
from edgeseg.convert.source import Source
from edgeseg.spec import DecoderKind, OutputRole, OutputSpec, Task

# Any nn.Module whose forward takes (1, 3, H, W) float32 (RGB, x/255) and returns logits (1, C, h, w).
net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(16, 3, 1)).eval()

src = Source(module=net, task=Task.SEMANTIC, decoder=DecoderKind.MASK_LOGITS,
             outputs=(OutputSpec(name="logits", role=OutputRole.LOGITS),),
             class_names=("background", "part", "defect"), input_hw=(256, 256), name="my-model")

calib = sys.argv[1] if len(sys.argv) > 1 else None
out = sys.argv[2] if len(sys.argv) > 2 else "export-out"
export(src, out, ExportOptions(formats=("onnx", "openvino", "tflite"), int8=calib is not None, calib=calib,
                               max_drop=1.0))
