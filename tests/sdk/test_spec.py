import copy

import pytest

from edgeseg.errors import SpecError
from edgeseg.spec import (
    SPEC_VERSION,
    BoxExtent,
    ColorOrder,
    DecoderKind,
    InputDType,
    InputSpec,
    Layout,
    ModelSpec,
    Normalization,
    OutputRole,
    OutputSpec,
    Precision,
    Quantization,
    ResizeMode,
    Task,
)


def _instance_spec() -> ModelSpec:
    return ModelSpec(
        task=Task.INSTANCE,
        decoder=DecoderKind.YOLO_SEG,
        input=InputSpec(name="images", size_hw=(480, 640), layout=Layout.NHWC, dtype=InputDType.INT8,
                        color=ColorOrder.BGR, resize=ResizeMode.STRETCH, pad_value=0,
                        normalization=Normalization(scale=1.0, mean=(1.0, 2.0, 3.0), std=(4.0, 5.0, 6.0))),
        outputs=(OutputSpec(name="output0", role=OutputRole.PREDICTIONS),
                 OutputSpec(name="output1", role=OutputRole.PROTOS)),
        class_names=("bolt", "nut"),
        num_mask_coeffs=32,
        quantization=Quantization(precision=Precision.INT8, method="nncf", calibration_images=300,
                                  float_nodes=("/model.22/Concat",)),
        source_hash="sha256:abc",
        converter_version="edgeseg 0.1.0",
        name="parts-seg",
    )


def _semantic_doc() -> dict:
    return {
        "version": SPEC_VERSION, "task": "semantic", "decoder": "mask-logits",
        "input": {"name": "images", "size_hw": [64, 96]},
        "outputs": [{"name": "logits", "role": "logits"}],
        "class_names": ["background", "part", "defect"],
    }


def test_round_trip_json_and_dict():
    spec = _instance_spec()
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert ModelSpec.from_json(spec.to_json().encode()) == spec
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["input"]["layout"] == "NHWC"  # enums travel as their values


def test_defaults_fill_optional_fields():
    spec = ModelSpec.from_dict(_semantic_doc())
    assert spec.input == InputSpec(name="images", size_hw=(64, 96))
    assert spec.input.normalization == Normalization()
    assert spec.quantization == Quantization()
    assert (spec.num_classes, spec.output_name(OutputRole.LOGITS)) == (3, "logits")


def test_folded_normalization_survives_the_round_trip():
    doc = _semantic_doc()
    doc["input"]["normalization"] = None
    doc["input"]["dtype"] = "uint8"
    spec = ModelSpec.from_dict(doc)
    assert spec.input.normalization is None
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_output_name_for_a_missing_role_names_the_roles_present():
    with pytest.raises(SpecError, match=r"spec.outputs: expected an output with role 'protos', found roles \['logits'\]"):
        ModelSpec.from_dict(_semantic_doc()).output_name(OutputRole.PROTOS)


def _set(doc, path, value):
    *parents, last = path
    for key in parents:
        doc = doc[key]
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


_DELETE = object()

# (where, new value, what the message must say): every error names the field by its full path.
BAD_FIELDS = [
    (("version",), 2, r"spec\.version: this edgeseg reads version 1, the model has 2"),
    (("version",), "1", r"spec\.version: expected an integer, got '1'"),
    (("version",), _DELETE, r"spec\.version: required field is missing"),
    (("task",), _DELETE, r"spec\.task: required field is missing"),
    (("task",), "depth", r"spec\.task: expected one of \['semantic', 'instance', 'panoptic'\], got 'depth'"),
    (("decoder",), "argmax", r"spec\.decoder: expected one of .*got 'argmax'"),
    (("decoder",), "yolo-seg", r"spec\.decoder: a semantic model needs one of \['class-map', 'mask-logits'\]"),
    (("input",), _DELETE, r"spec\.input: required field is missing"),
    (("input",), [64, 96], r"spec\.input: expected an object, got list"),
    (("input", "name"), _DELETE, r"spec\.input\.name: required field is missing"),
    (("input", "name"), 3, r"spec\.input\.name: expected a string, got 3"),
    (("input", "size_hw"), [64], r"spec\.input\.size_hw: expected 2 integers, got \[64\]"),
    (("input", "size_hw"), [64, 96.0], r"spec\.input\.size_hw: expected 2 integers"),
    (("input", "size_hw"), [0, 96], r"spec\.input\.size_hw: expected two positive integers, got \(0, 96\)"),
    (("input", "layout"), "CHW", r"spec\.input\.layout: expected one of \['NCHW', 'NHWC'\], got 'CHW'"),
    (("input", "dtype"), "float16", r"spec\.input\.dtype: expected one of"),
    (("input", "color"), "GRAY", r"spec\.input\.color: expected one of \['RGB', 'BGR'\]"),
    (("input", "resize"), "crop", r"spec\.input\.resize: expected one of \['letterbox', 'stretch'\]"),
    (("input", "pad_value"), 256, r"spec\.input\.pad_value: expected 0\.\.255, got 256"),
    (("input", "pad_value"), True, r"spec\.input\.pad_value: expected an integer, got True"),
    (("input", "normalization"), {"std": [1, 0, 1]}, r"spec\.input\.normalization\.std: expected non-zero"),
    (("input", "normalization"), {"mean": [0.5, 0.5]}, r"spec\.input\.normalization\.mean: expected 3 numbers"),
    (("input", "normalization"), {"scale": "1/255"}, r"spec\.input\.normalization\.scale: expected a number"),
    (("outputs",), _DELETE, r"spec\.outputs: required field is missing"),
    (("outputs",), {"name": "logits"}, r"spec\.outputs: expected a list"),
    (("outputs", 0, "role"), "heatmap", r"spec\.outputs\[0\]\.role: expected one of .*got 'heatmap'"),
    (("outputs", 0, "name"), _DELETE, r"spec\.outputs\[0\]\.name: required field is missing"),
    (("outputs",), [{"name": "x", "role": "class_map"}], r"spec\.outputs: decoder 'mask-logits' needs roles \['logits'\]"),
    (("outputs",), [{"name": "x", "role": "logits"}, {"name": "x", "role": "logits"}],
     r"spec\.outputs: output names must be unique, got \['x', 'x'\]"),
    (("class_names",), [], r"spec\.class_names: expected at least one class name"),
    (("class_names",), ["a", 2], r"spec\.class_names: expected a list of strings"),
    (("stuff",), [0, 3], r"spec\.stuff: class ids \[3\] are outside 0\.\.2"),
    (("box_extent",), "amodal", r"spec\.box_extent: expected one of \['visible', 'whole'\], got 'amodal'"),
    (("box_extent",), "whole", r"spec\.box_extent: a semantic model has no boxes, got 'whole'"),
    (("quantization",), {"precision": "int4"}, r"spec\.quantization\.precision: expected one of \['fp32', 'fp16', 'int8'\]"),
    (("quantization",), {"calibration_images": -0.5}, r"spec\.quantization\.calibration_images: expected an integer"),
]


@pytest.mark.parametrize("where, value, message", BAD_FIELDS, ids=[".".join(map(str, w)) + f"={v!r}"[:30]
                                                                  for w, v, _ in BAD_FIELDS])
def test_each_invalid_field_is_named(where, value, message):
    doc = copy.deepcopy(_semantic_doc())
    _set(doc, where, value)
    with pytest.raises(SpecError, match=message):
        ModelSpec.from_dict(doc)


def test_unknown_version_is_refused_before_the_rest_is_parsed():
    # A future document may not parse under today's rules; the version error must come first.
    with pytest.raises(SpecError, match=r"spec\.version: this edgeseg reads version 1, the model has 9"):
        ModelSpec.from_dict({"version": 9, "task": "hologram"})


def test_instance_and_panoptic_rules():
    doc = _instance_spec().to_dict()
    doc["num_mask_coeffs"] = 0
    with pytest.raises(SpecError, match=r"spec\.num_mask_coeffs: a yolo-seg model needs"):
        ModelSpec.from_dict(doc)
    doc = _instance_spec().to_dict()
    doc["outputs"] = [{"name": "boxes", "role": "boxes"}, {"name": "protos", "role": "protos"}]
    with pytest.raises(SpecError, match=r"spec\.outputs: decoder 'yolo-seg' needs roles .* or "):
        ModelSpec.from_dict(doc)
    doc = _instance_spec().to_dict()
    doc["input"]["normalization"] = None
    with pytest.raises(SpecError, match=r"spec\.input: an int8 input needs a normalization"):
        ModelSpec.from_dict(doc)
    doc = _instance_spec().to_dict()
    doc["task"] = "panoptic"
    with pytest.raises(SpecError, match=r"spec\.outputs: a panoptic model needs a 'logits' or 'class_map'"):
        ModelSpec.from_dict(doc)
    doc["outputs"].append({"name": "sem", "role": "logits"})
    with pytest.raises(SpecError, match=r"spec\.stuff/spec\.things: a panoptic model must say"):
        ModelSpec.from_dict(doc)
    doc["stuff"], doc["things"] = [0], [1]
    assert ModelSpec.from_dict(doc).task == Task.PANOPTIC


@pytest.mark.parametrize("text, message", [
    ("{not json", r"model spec is not valid JSON"),
    (b"\xff\xfe", r"model spec is not valid JSON"),
    ("[1, 2]", r"spec: expected an object, got list"),
    ("null", r"spec: expected an object, got NoneType"),
])
def test_documents_that_are_not_spec_objects(text, message):
    with pytest.raises(SpecError, match=message):
        ModelSpec.from_json(text)


def test_constructing_an_invalid_spec_in_python_is_refused_too():
    with pytest.raises(SpecError, match=r"spec\.class_names"):
        _instance_spec().replace(class_names=())


def test_decode_defaults_round_trip_and_validation():
    from edgeseg.spec import DecodeDefaults

    spec = _instance_spec().replace(decode_defaults=DecodeDefaults(conf=0.4, iou=0.6, class_agnostic=True))
    back = ModelSpec.from_json(spec.to_json())
    assert back.decode_defaults == DecodeDefaults(conf=0.4, iou=0.6, class_agnostic=True, max_det=300)
    doc = spec.to_dict()
    doc["decode_defaults"]["class_agnostic"] = "yes"
    with pytest.raises(SpecError, match="spec.decode_defaults.class_agnostic: expected true or false"):
        ModelSpec.from_dict(doc)
    with pytest.raises(SpecError, match="spec.decode_defaults"):
        spec.replace(decode_defaults=DecodeDefaults(conf=1.5))


def test_decode_defaults_cross_class_mask_iou_round_trip_default_and_validation():
    from edgeseg.segmenter import default_instance_options
    from edgeseg.spec import DecodeDefaults

    spec = _instance_spec().replace(decode_defaults=DecodeDefaults(conf=0.35, iou=0.6, cross_class_mask_iou=0.4))
    back = ModelSpec.from_json(spec.to_json())
    assert back.decode_defaults.cross_class_mask_iou == 0.4
    assert default_instance_options(back).cross_class_mask_iou == 0.4
    doc = spec.to_dict()
    del doc["decode_defaults"]["cross_class_mask_iou"]  # specs written before the field: plain box NMS
    assert ModelSpec.from_dict(doc).decode_defaults.cross_class_mask_iou is None
    doc["decode_defaults"]["cross_class_mask_iou"] = "0.4"
    with pytest.raises(SpecError, match="spec.decode_defaults.cross_class_mask_iou: expected a number"):
        ModelSpec.from_dict(doc)
    with pytest.raises(SpecError, match="spec.decode_defaults.cross_class_mask_iou"):
        spec.replace(decode_defaults=DecodeDefaults(cross_class_mask_iou=1.0))


def test_decode_defaults_mask_iou_and_sure_iou_round_trip_default_and_validation():
    from edgeseg.segmenter import default_instance_options
    from edgeseg.spec import DecodeDefaults

    spec = _instance_spec().replace(decode_defaults=DecodeDefaults(iou=0.3, mask_iou=0.5, sure_iou=0.65))
    back = ModelSpec.from_json(spec.to_json())
    assert (back.decode_defaults.mask_iou, back.decode_defaults.sure_iou) == (0.5, 0.65)
    opts = default_instance_options(back)
    assert (opts.iou, opts.mask_iou, opts.sure_iou) == (0.3, 0.5, 0.65)
    doc = spec.to_dict()
    del doc["decode_defaults"]["mask_iou"], doc["decode_defaults"]["sure_iou"]  # older specs: both off
    assert ModelSpec.from_dict(doc).decode_defaults == DecodeDefaults(iou=0.3)
    for key in ("mask_iou", "sure_iou"):
        with pytest.raises(SpecError, match=f"spec.decode_defaults.{key}"):
            spec.replace(decode_defaults=DecodeDefaults(**{key: -0.1}))


def test_decode_defaults_sure_same_class_round_trip_default_and_validation():
    from edgeseg.segmenter import default_instance_options
    from edgeseg.spec import DecodeDefaults

    d = DecodeDefaults(iou=0.3, mask_iou=0.5, sure_iou=0.65, sure_same_class=True)
    spec = _instance_spec().replace(decode_defaults=d)
    assert ModelSpec.from_json(spec.to_json()).decode_defaults == d
    assert default_instance_options(spec).sure_same_class
    assert not default_instance_options(spec, sure_same_class=False).sure_same_class
    doc = spec.to_dict()
    del doc["decode_defaults"]["sure_same_class"]  # older specs: every pair above sure_iou is sure
    assert not ModelSpec.from_dict(doc).decode_defaults.sure_same_class
    doc["decode_defaults"]["sure_same_class"] = 1
    with pytest.raises(SpecError, match="spec.decode_defaults.sure_same_class: expected true or false"):
        ModelSpec.from_dict(doc)


def test_decode_defaults_claim_share_and_rescue_conf_round_trip_default_and_validation():
    from edgeseg.segmenter import default_instance_options
    from edgeseg.spec import DecodeDefaults

    spec = _instance_spec().replace(decode_defaults=DecodeDefaults(conf=0.4, claim_share=0.2, rescue_conf=0.03))
    back = ModelSpec.from_json(spec.to_json())
    assert (back.decode_defaults.claim_share, back.decode_defaults.rescue_conf) == (0.2, 0.03)
    opts = default_instance_options(back)
    assert (opts.conf, opts.claim_share, opts.rescue_conf, opts.min_score) == (0.4, 0.2, 0.03, 0.03)
    # A confidence threshold of one's own turns the rescue off, unless a rescue threshold comes with it.
    assert default_instance_options(back, conf=0.5).rescue_conf is None
    assert default_instance_options(back, conf=0.5, rescue_conf=0.1).rescue_conf == 0.1
    assert default_instance_options(back, iou=0.5).rescue_conf == 0.03
    doc = spec.to_dict()
    del doc["decode_defaults"]["claim_share"], doc["decode_defaults"]["rescue_conf"]  # older specs: both off
    assert ModelSpec.from_dict(doc).decode_defaults == DecodeDefaults(conf=0.4)
    for bad in (dict(claim_share=1.5), dict(claim_share=-0.1), dict(conf=0.4, claim_share=0.2, rescue_conf=0.5),
                dict(conf=0.4, rescue_conf=0.1)):
        with pytest.raises(SpecError, match="spec.decode_defaults"):
            spec.replace(decode_defaults=DecodeDefaults(**bad))


def test_box_extent_defaults_to_visible_and_round_trips():
    spec = _instance_spec()
    assert spec.box_extent == BoxExtent.VISIBLE and "box_extent" in spec.to_dict()
    doc = spec.to_dict()
    del doc["box_extent"]  # documents written before the field existed read as visible boxes
    assert ModelSpec.from_dict(doc).box_extent == BoxExtent.VISIBLE
    whole = spec.replace(box_extent=BoxExtent.WHOLE)
    assert ModelSpec.from_json(whole.to_json()) == whole and whole.to_dict()["box_extent"] == "whole"
