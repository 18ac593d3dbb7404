"""Adapters (Ultralytics, torchvision, smp) → Source.

Everywhere: small stand-in modules with the attributes and behaviour each adapter relies on (an
Ultralytics-like Segment head with DFL boxes and an export flag, a dict-returning semantic model, a Mask
R-CNN made of backbone/rpn/roi_heads, an smp-like model with a config). With the real packages installed
(ultralytics, torchvision, segmentation_models_pytorch), the same adapters run on real models and their
exports are checked against PyTorch.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from edgeseg.convert.adapt_smp import from_smp  # noqa: E402
from edgeseg.convert.adapt_torchvision import (IMAGENET_MEAN, IMAGENET_STD, from_torchvision_maskrcnn,  # noqa: E402
                                               from_torchvision_segmentation)
from edgeseg.convert.adapt_ultralytics import from_ultralytics  # noqa: E402
from edgeseg.convert.export import ExportOptions, export  # noqa: E402
from edgeseg.errors import InputError  # noqa: E402
from edgeseg.spec import ColorOrder, DecoderKind, OutputRole, ResizeMode, Task  # noqa: E402

# ------------------------------------------------------------------------------------------- stand-ins


class StandInDFL(nn.Module):
    """Expected distance over `reg_max` bins per box side: (b, 4*r, A) → (b, 4, A)."""

    def __init__(self, r: int) -> None:
        super().__init__()
        self.r = r
        self.register_buffer("bins", torch.arange(r, dtype=torch.float32).view(1, 1, r, 1))

    def forward(self, x):
        b, _, a = x.shape
        return (x.view(b, 4, self.r, a).softmax(2) * self.bins).sum(2)


class StandInSegment(nn.Module):
    """Behaves like an Ultralytics Segment head: export mode returns (output0, protos), else
    ((output0, protos), raw); output0 = cx, cy, w, h (pixels), sigmoid scores, coefficients."""

    def __init__(self, nc: int = 3, nm: int = 4, reg_max: int = 4, ch: tuple[int, ...] = (8, 8)) -> None:
        super().__init__()
        self.nc, self.nm, self.reg_max, self.nl = nc, nm, reg_max, len(ch)
        self.stride = torch.tensor([8.0, 16.0])
        self.export, self.format, self.dynamic, self.shape, self.xyxy = False, None, True, None, False
        self.cv2 = nn.ModuleList(nn.Sequential(nn.Conv2d(c, 4 * reg_max, 1)) for c in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(nn.Conv2d(c, nc, 1)) for c in ch)
        self.cv4 = nn.ModuleList(nn.Sequential(nn.Conv2d(c, nm, 1)) for c in ch)
        self.dfl = StandInDFL(reg_max)
        self.proto = nn.Sequential(nn.Upsample(scale_factor=2.0), nn.Conv2d(ch[0], nm, 1))

    def forward(self, x):
        b = x[0].shape[0]
        box = torch.cat([self.cv2[i](x[i]).view(b, 4 * self.reg_max, -1) for i in range(self.nl)], 2)
        cls = torch.cat([self.cv3[i](x[i]).view(b, self.nc, -1) for i in range(self.nl)], 2)
        mc = torch.cat([self.cv4[i](x[i]).view(b, self.nm, -1) for i in range(self.nl)], 2)
        anchors, strides = [], []
        for i in range(self.nl):  # cell centres, x before y
            h, w = x[i].shape[2:]
            yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
            anchors.append(torch.stack([xx.flatten(), yy.flatten()], 0))
            strides.append(torch.full((1, h * w), (8.0, 16.0)[i]))
        a, s = torch.cat(anchors, 1), torch.cat(strides, 1)
        d = self.dfl(box)
        lt, rb = a - d[:, :2], a + d[:, 2:]
        y = torch.cat([torch.cat([(lt + rb) / 2, rb - lt], 1) * s, cls.sigmoid(), mc], 1)
        p = self.proto(x[0])
        return (y, p) if self.export else ((y, p), {"boxes": box})


class StandInSegmentationModel(nn.Module):
    """Like ultralytics' SegmentationModel: `.model` is the layer list, the head last; `.names` a dict."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = nn.Sequential(nn.Conv2d(3, 8, 3, 8, 1), nn.Conv2d(8, 8, 3, 2, 1), StandInSegment())
        self.names = {0: "bolt", 1: "nut", 2: "washer"}
        with torch.no_grad():  # a few confident, well-separated anchors so decoding sees instances
            self.model[2].cv3[0][0].bias.copy_(torch.tensor([-6.0, -6.0, -6.0]))
            self.model[2].cv3[0][0].weight[0].mul_(20)
            self.model[2].cv4[0][0].weight.mul_(5)

    def forward(self, x):
        p8 = self.model[0](x)
        p16 = self.model[1](p8)
        return self.model[2]([p8, p16])


class StandInYOLO(nn.Module):
    """Like ultralytics' YOLO object: an nn.Module holding the SegmentationModel in `.model`."""

    def __init__(self) -> None:
        super().__init__()
        self.model = StandInSegmentationModel()


class StandInDeepLab(nn.Module):
    """Forward returns {"out": logits at input size, "aux": ...} like torchvision's segmentation models."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Conv2d(3, 8, 3, 4, 1)
        self.classifier = nn.Conv2d(8, num_classes, 1)
        self.aux_classifier = nn.Conv2d(8, num_classes, 1)

    def forward(self, x):
        f = self.backbone(x)
        out = {"out": nn.functional.interpolate(self.classifier(f), size=x.shape[-2:], mode="bilinear")}
        if self.aux_classifier is not None:
            out["aux"] = self.aux_classifier(f)
        return out


class StandInRoIHeads(nn.Module):
    """Eval-mode torchvision RoIHeads contract: (features, proposals, image_sizes) → ([{boxes, labels, scores,
    masks (N, 1, 28, 28)}], {}). Keeps the first 3 proposals, scores from pooled features."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.box_predictor = nn.Module()
        self.box_predictor.cls_score = nn.Linear(8, num_classes)
        self.mask_head = nn.Conv2d(8, 1, 1)

    def forward(self, features, proposals, image_sizes):
        f = features["0"]
        boxes = proposals[0][:3]
        scores = self.box_predictor.cls_score(f.mean((2, 3))).softmax(1)[0, 1:].max().expand(3)
        masks = torch.sigmoid(self.mask_head(nn.functional.interpolate(f, size=(28, 28)))).expand(3, 1, 28, 28)
        h, w = image_sizes[0]
        assert (h, w) == (f.shape[-2] * 4, f.shape[-1] * 4)
        return [{"boxes": boxes, "labels": torch.tensor([1, 2, 1]), "scores": scores, "masks": masks}], {}


class StandInRPN(nn.Module):
    def forward(self, images, features):
        h, w = images.image_sizes[0]
        assert images.tensors.shape[-2:] == (h, w)
        return [torch.tensor([[4.0, 4.0, 30.0, 20.0], [40.0, 10.0, 60.0, 50.0], [10.0, 30.0, 25.0, 60.0]])], {}


class StandInMaskRCNN(nn.Module):
    """backbone / rpn / roi_heads / transform like torchvision's MaskRCNN; its own forward (resize + paste)
    must not be what gets exported."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, 4, 1))
        self.rpn = StandInRPN()
        self.roi_heads = StandInRoIHeads()
        self.transform = nn.Module()
        self.transform.image_mean = [0.5, 0.4, 0.3]
        self.transform.image_std = [0.2, 0.2, 0.2]

    def forward(self, images):
        raise AssertionError("the adapter must bypass the model's own forward (resize, paste)")


class StandInSmp(nn.Module):
    """Like an smp model: `config`, `encoder.output_stride`, `segmentation_head.activation`."""

    def __init__(self, classes: int = 2, activation: nn.Module | None = None, aux: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.config = {"encoder_name": "resnet18", "encoder_weights": None, "classes": classes}
        self.encoder = nn.Conv2d(3, 8, 3, 2, 1)
        self.encoder.output_stride = 32
        self.segmentation_head = nn.Sequential(nn.Conv2d(8, classes, 1), nn.Upsample(scale_factor=2.0))
        self.segmentation_head.activation = activation or nn.Identity()
        self.aux = aux

    def forward(self, x):
        y = self.segmentation_head.activation(self.segmentation_head(self.encoder(x)))
        return (y, torch.zeros(1, 2)) if self.aux else y


def _frames(n: int, hw=(70, 100), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for _ in range(n)]


def _run(src, x):
    with torch.no_grad():
        out = src.module(x)
    return out if isinstance(out, tuple) else (out,)


# ----------------------------------------------------------------------------------------- Ultralytics


@pytest.mark.parametrize("wrap", ["yolo", "inner", "checkpoint"])
def test_ultralytics_concatenated_layout_and_spec(wrap):
    yolo = StandInYOLO()
    model = {"yolo": yolo, "inner": yolo.model, "checkpoint": {"model": yolo.model, "train_args": {}}}[wrap]
    src = from_ultralytics(model, imgsz=(64, 96))
    assert src.task == Task.INSTANCE and src.decoder == DecoderKind.YOLO_SEG
    assert [(o.name, o.role) for o in src.outputs] == [("output0", OutputRole.PREDICTIONS),
                                                      ("protos", OutputRole.PROTOS)]
    assert src.class_names == ("bolt", "nut", "washer") and src.num_mask_coeffs == 4
    assert src.input_hw == (64, 96) and src.color == ColorOrder.RGB and src.resize == ResizeMode.LETTERBOX
    assert src.pad_value == 114
    assert src.normalization.scale == pytest.approx(1 / 255) and src.normalization.mean == (0, 0, 0)
    output0, protos = _run(src, torch.rand(1, 3, 64, 96))
    anchors = 8 * 12 + 4 * 6  # strides 8 and 16
    assert output0.shape == (1, 4 + 3 + 4, anchors) and protos.shape == (1, 4, 16, 24)
    # The caller's model is left as it was: export mode is set on a copy.
    assert yolo.model.model[2].export is False and yolo.model.model[2].dynamic is True
    spec = src.spec()
    assert spec.decoder == DecoderKind.YOLO_SEG and spec.num_mask_coeffs == 4


def test_ultralytics_split_matches_the_concatenated_head():
    yolo = StandInYOLO()
    x = torch.rand(1, 3, 64, 96)
    output0, protos = _run(from_ultralytics(yolo, imgsz=(64, 96)), x)
    src = from_ultralytics(yolo, imgsz=(64, 96), split=True, names=["a", "b", "c"])
    assert [o.role for o in src.outputs] == [OutputRole.BOXES, OutputRole.SCORES, OutputRole.COEFFICIENTS,
                                            OutputRole.PROTOS]
    assert src.class_names == ("a", "b", "c")
    boxes, scores, coeffs, protos2 = _run(src, x)
    assert boxes.shape == (1, 120, 4) and scores.shape == (1, 120, 3) and coeffs.shape == (1, 120, 4)
    torch.testing.assert_close(boxes, output0[:, :4].transpose(1, 2), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(scores, output0[:, 4:7].transpose(1, 2))
    torch.testing.assert_close(coeffs, output0[:, 7:].transpose(1, 2))
    torch.testing.assert_close(protos2, protos)


def test_ultralytics_split_graph_has_no_concat_across_kinds(tmp_path):
    """The point of split: boxes, scores and coefficients reach their outputs without sharing a Concat
    (one INT8 scale for all three is what wrecks the coefficients)."""
    onnx = pytest.importorskip("onnx")
    src = from_ultralytics(StandInYOLO(), imgsz=(64, 96), split=True, name="standin-split")
    export(src, tmp_path, ExportOptions(progress=False))
    graph = onnx.load(str(tmp_path / "standin-split.onnx")).graph
    producers = {o: n for n in graph.node for o in n.output}

    def ancestors(name):
        seen, todo = set(), [name]
        while todo:
            n = producers.get(todo.pop())
            if n is not None and n.name not in seen:
                seen.add(n.name)
                todo.extend(n.input)
        return seen

    boxes, scores, coeffs = (ancestors(o) for o in ("boxes", "scores", "coefficients"))
    concat = {n.name for n in graph.node if n.op_type == "Concat"}
    assert not (boxes & scores & concat) and not (scores & coeffs & concat) and not (boxes & coeffs & concat)


@pytest.mark.slow
@pytest.mark.parametrize("split", [False, True])
def test_ultralytics_standin_exports_with_fp32_parity(split, tmp_path):
    src = from_ultralytics(StandInYOLO(), imgsz=(64, 96), split=split, name="standin")
    frames = _frames(4)
    export(src, tmp_path, ExportOptions(formats=("onnx", "openvino"), holdout=frames, progress=False))
    rows = json.loads((tmp_path / "report.json").read_text())["rows"]
    assert [r["format"] for r in rows] == ["onnx", "openvino"]
    for r in rows:
        assert r["mask_ap50"] >= 0.99 and r["count_agreement"] == 1.0 and r["mean_mask_iou"] >= 0.99
    import edgeseg

    with edgeseg.load(tmp_path / "standin.onnx") as seg:
        assert sum(len(seg(f)) for f in frames) > 0  # the check compared real instances, not empty results


def test_ultralytics_checkpoint_path(tmp_path):
    path = tmp_path / "best.pt"
    torch.save({"model": StandInSegmentationModel(), "ema": None}, path)
    src = from_ultralytics(path, imgsz=64)
    assert src.input_hw == (64, 64) and src.class_names == ("bolt", "nut", "washer")


def test_ultralytics_refusals(tmp_path):
    with pytest.raises(InputError, match="multiple of the model's largest stride 16"):
        from_ultralytics(StandInYOLO(), imgsz=(64, 90))
    with pytest.raises(InputError, match="3 classes, got 2 names"):
        from_ultralytics(StandInYOLO(), imgsz=64, names=["a", "b"])
    with pytest.raises(InputError, match="expected an Ultralytics segmentation model"):
        from_ultralytics(nn.Conv2d(3, 3, 1))
    with pytest.raises(InputError, match="is not a file"):
        from_ultralytics(tmp_path / "missing.pt")
    with pytest.raises(InputError, match="'model' or 'ema'"):
        from_ultralytics({"optimizer": None})
    fused = StandInYOLO()
    fused.model.model[2].one2one_cv2 = fused.model.model[2].cv2
    fused.model.model[2].cv2 = None
    with pytest.raises(InputError, match="was fused"):
        from_ultralytics(fused, imgsz=64)


# ------------------------------------------------------------------------------------------ torchvision


def test_torchvision_semantic_returns_out_logits():
    model = StandInDeepLab(num_classes=3)
    src = from_torchvision_segmentation(model, input_hw=(48, 64), class_names=["bg", "part", "defect"])
    assert src.task == Task.SEMANTIC and src.decoder == DecoderKind.MASK_LOGITS
    assert [o.role for o in src.outputs] == [OutputRole.LOGITS]
    (logits,) = _run(src, torch.rand(1, 3, 48, 64))
    assert logits.shape == (1, 3, 48, 64)
    assert src.normalization.mean == pytest.approx(IMAGENET_MEAN) and src.normalization.std == pytest.approx(IMAGENET_STD)
    assert src.resize == ResizeMode.LETTERBOX and src.pad_value == round(255 * sum(IMAGENET_MEAN) / 3)
    assert model.aux_classifier is not None  # the caller's model keeps its aux head
    assert from_torchvision_segmentation(model, input_hw=(32, 32)).class_names == ("class0", "class1", "class2")
    with pytest.raises(InputError, match="3 output channels, got 2 names"):
        from_torchvision_segmentation(model, input_hw=(32, 32), class_names=["a", "b"])
    with pytest.raises(InputError, match="dict with 'out'"):
        from_torchvision_segmentation(nn.Conv2d(3, 2, 1), input_hw=(32, 32))
    with pytest.raises(InputError, match="expected a torch.nn.Module"):
        from_torchvision_segmentation(object(), input_hw=(32, 32))


def test_torchvision_maskrcnn_skips_transform_and_paste():
    src = from_torchvision_maskrcnn(StandInMaskRCNN(), input_hw=(64, 80), class_names=["__bg__", "bolt", "nut"])
    assert src.decoder == DecoderKind.MASKRCNN and src.task == Task.INSTANCE
    assert [o.role for o in src.outputs] == [OutputRole.BOXES, OutputRole.LABELS, OutputRole.SCORES,
                                            OutputRole.MASKS]
    boxes, labels, scores, masks = _run(src, torch.rand(1, 3, 64, 80))
    assert boxes.shape == (3, 4) and labels.shape == (3,) and scores.shape == (3,)
    assert masks.shape == (3, 1, 28, 28)  # per-box masks, not pasted to (3, 1, 64, 80)
    assert src.normalization.mean == (0.5, 0.4, 0.3) and src.normalization.std == (0.2, 0.2, 0.2)
    assert src.pad_value == 102  # the mean pixel, 255 * 0.4
    assert from_torchvision_maskrcnn(StandInMaskRCNN(), input_hw=(64, 80)).class_names == ("class0", "class1",
                                                                                           "class2")
    no_masks = StandInMaskRCNN()
    no_masks.roi_heads.mask_head = None
    with pytest.raises(InputError, match="no mask head"):
        from_torchvision_maskrcnn(no_masks, input_hw=(64, 80))
    with pytest.raises(InputError, match="has no 'rpn'"):
        from_torchvision_maskrcnn(StandInDeepLab(), input_hw=(64, 80))
    with pytest.raises(InputError, match=r"input_hw: expected \(height, width\)"):
        from_torchvision_maskrcnn(StandInMaskRCNN(), input_hw=(64,))


@pytest.mark.slow
def test_torchvision_maskrcnn_standin_decodes_through_onnx(tmp_path):
    src = from_torchvision_maskrcnn(StandInMaskRCNN(), input_hw=(64, 80), class_names=["__bg__", "bolt", "nut"],
                                    name="standin-maskrcnn")
    export(src, tmp_path, ExportOptions(holdout=_frames(3), progress=False))
    row = json.loads((tmp_path / "report.json").read_text())["rows"][0]
    assert row["count_agreement"] == 1.0 and row["mean_mask_iou"] >= 0.99


# -------------------------------------------------------------------------------------------------- smp


def test_smp_multiclass_binary_and_normalization():
    src = from_smp(StandInSmp(classes=3, aux=True), input_hw=(64, 96), class_names=["bg", "a", "b"])
    assert src.decoder == DecoderKind.MASK_LOGITS and src.class_names == ("bg", "a", "b")
    assert src.normalization.mean == pytest.approx(IMAGENET_MEAN) and src.color == ColorOrder.RGB
    (logits,) = _run(src, torch.rand(1, 3, 64, 96))
    assert logits.shape == (1, 3, 64, 96)

    # One channel: [threshold, z], so arg-max is foreground exactly where the model's own threshold says.
    for activation, threshold in ((None, 0.0), (nn.Sigmoid(), 0.5)):
        model = StandInSmp(classes=1, activation=activation)
        src = from_smp(model, input_hw=(32, 32), class_names=["background", "crack"])
        x = torch.rand(1, 3, 32, 32)
        (two,) = _run(src, x)
        with torch.no_grad():
            z = model(x)
        assert two.shape == (1, 2, 32, 32)
        assert torch.equal(two.argmax(1), (z[:, 0] > threshold).long())
    with pytest.raises(InputError, match="two: background and the class"):
        from_smp(StandInSmp(classes=1), input_hw=(32, 32), class_names=["crack"])
    with pytest.raises(InputError, match="multiples of 32"):
        from_smp(StandInSmp(), input_hw=(48, 64), class_names=["a", "b"])


def test_smp_normalization_override_sets_the_pad():
    from edgeseg.spec import Normalization

    norm = Normalization(scale=1 / 255, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    src = from_smp(StandInSmp(), input_hw=(32, 32), class_names=["a", "b"], normalization=norm)
    assert src.normalization == norm and src.pad_value == 128


# ------------------------------------------------------------------------------- the real packages


def _bias_some_anchors(yolo, hw, quantile=0.997, margin=0.3):
    """Random weights score every anchor ≈ equally: spread the class-0 logits and lift them so that the
    top anchors clear conf 0.25 by a margin (no score sits on the threshold)."""
    from edgeseg.preprocess import preprocess

    head = yolo.model.model[-1]
    for seq in head.cv3:
        seq[-1].weight.data[0] *= 30
    probe = from_ultralytics(yolo, imgsz=hw, split=True)
    logits = []
    with torch.no_grad():
        for f in _frames(4, (120, 160)):
            x, _ = preprocess(f, probe.spec().input)
            p = probe.module(torch.from_numpy(x))[1][0, :, 0].clamp(1e-9, 1 - 1e-9)
            logits.append(torch.log(p / (1 - p)))
    shift = math.log(0.25 / 0.75) - float(torch.quantile(torch.cat(logits), quantile)) + margin
    for seq in head.cv3:
        seq[-1].bias.data[0] += shift


@pytest.mark.slow
@pytest.mark.parametrize("split", [False, True])
def test_real_ultralytics_yolo11_seg(split, tmp_path):
    ultralytics = pytest.importorskip("ultralytics")
    torch.manual_seed(0)
    yolo = ultralytics.YOLO("yolo11n-seg.yaml")  # built from its YAML: random weights, no download
    hw = (160, 224)
    _bias_some_anchors(yolo, hw)
    src = from_ultralytics(yolo, imgsz=hw, split=split, name="yolo11n-seg")
    assert src.num_mask_coeffs == 32 and len(src.class_names) == 80
    frames = _frames(4, (120, 160))
    export(src, tmp_path, ExportOptions(formats=("onnx", "openvino"), holdout=frames, progress=False))
    for r in json.loads((tmp_path / "report.json").read_text())["rows"]:
        assert r["count_agreement"] == 1.0 and r["mean_mask_iou"] >= 0.99, r


@pytest.mark.slow
def test_real_torchvision_lraspp(tmp_path):
    segmentation = pytest.importorskip("torchvision.models.segmentation")
    torch.manual_seed(0)
    model = segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=4)
    src = from_torchvision_segmentation(model, input_hw=(128, 160), name="lraspp")
    export(src, tmp_path, ExportOptions(formats=("onnx", "openvino"), holdout=_frames(3), progress=False))
    for r in json.loads((tmp_path / "report.json").read_text())["rows"]:
        assert r["miou"] >= 0.99 and r["pixel_agreement"] >= 0.999, r


@pytest.mark.slow
def test_real_torchvision_maskrcnn(tmp_path):
    detection = pytest.importorskip("torchvision.models.detection")
    torch.manual_seed(0)
    model = detection.maskrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=3) \
        if hasattr(detection, "maskrcnn_mobilenet_v3_large_fpn") else \
        detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=3)
    model.roi_heads.score_thresh = 0.0  # random weights: keep what the heads produce
    model.roi_heads.detections_per_img = 10
    model.roi_heads.nms_thresh = 0.2
    with torch.no_grad():  # decisive masks: random mask logits sit at p ≈ 0.5, where rounding flips pixels
        model.roi_heads.mask_predictor.mask_fcn_logits.weight.mul_(20)
    src = from_torchvision_maskrcnn(model, input_hw=(192, 256), class_names=["__bg__", "a", "b"], name="maskrcnn")
    boxes, labels, scores, masks = _run(src, torch.rand(1, 3, 192, 256))
    assert masks.shape[1:] == (1, 28, 28) and boxes.shape[1] == 4
    export(src, tmp_path, ExportOptions(formats=("onnx", "openvino"), holdout=_frames(2), progress=False))
    for r in json.loads((tmp_path / "report.json").read_text())["rows"]:
        assert r["count_agreement"] == 1.0 and r["mean_mask_iou"] >= 0.99, r


@pytest.mark.slow
def test_real_smp_unet(tmp_path):
    smp = pytest.importorskip("segmentation_models_pytorch")
    torch.manual_seed(0)
    model = smp.Unet("resnet18", encoder_weights=None, classes=3)
    src = from_smp(model, input_hw=(128, 160), class_names=["bg", "a", "b"], name="unet")
    export(src, tmp_path, ExportOptions(formats=("onnx", "openvino"), holdout=_frames(3), progress=False))
    for r in json.loads((tmp_path / "report.json").read_text())["rows"]:
        assert r["miou"] >= 0.99 and r["pixel_agreement"] >= 0.999, r
