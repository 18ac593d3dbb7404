"""The shipped reference models: addressable by name, and accurate on a small fixed scene set.

The floors sit a little below what the models measured on these frames, so a worse model fails here.
"""

import numpy as np
import pytest

import edgeseg
from edgeseg import assets
from edgeseg.bench.evaluate import class_lut
from edgeseg.bench.metrics import ConfusionIoU, MaskAP
from edgeseg.bench.scenes import SEMANTIC_CLASSES, SceneOptions, make_scene
from edgeseg.convert.reference import INST_DECODE
from edgeseg.errors import ModelLoadError
from edgeseg.spec import BoxExtent

# (objects, seed) of the fixed frames: held out from training (it used seed 1).
FRAMES = [(5, 501), (20, 502), (40, 503), (80, 504)]


@pytest.fixture(scope="module")
def scenes():
    return [make_scene(SceneOptions(objects=n), seed=s) for n, s in FRAMES]


def test_names_resolve_everywhere():
    assert {"parts-seg", "parts-inst"} <= set(assets.names())
    with pytest.raises(ModelLoadError, match="not a shipped model"):
        assets.path("parts-xl")
    with edgeseg.load("parts-inst") as seg:
        assert seg.spec.name == "parts-inst" and seg.spec.class_names == ("hex_nut", "washer", "capsule")
        # The shipped file carries the operating point the converter embeds (its mask-gated NMS included).
        assert seg.spec.decode_defaults == INST_DECODE
        assert seg.spec.box_extent == BoxExtent.WHOLE  # its boxes are whole-part boxes, its masks what shows
        assert (seg.instance.iou, seg.instance.mask_iou, seg.instance.sure_iou) == (0.3, 0.5, 0.65)
        assert (seg.instance.claim_share, seg.instance.rescue_conf) == (0.2, 0.03)


def test_parts_seg_floor(scenes):
    conf = ConfusionIoU(3)
    with edgeseg.load("parts-seg") as seg:
        lut = class_lut(SEMANTIC_CLASSES, seg.spec.class_names)
        for scene in scenes:
            conf.add(seg(scene.image).class_map, lut[scene.truth.semantic])
    iou = conf.per_class_iou()
    # Measured on these frames: background 0.998, part 0.991, defect 0.821, mIoU 0.937.
    assert iou[0] > 0.99 and iou[1] > 0.98 and iou[2] > 0.75
    assert conf.miou() > 0.91


def test_parts_inst_floor(scenes):
    ap = MaskAP(3)
    errors, off = [], []
    with edgeseg.load("parts-inst") as seg:
        for scene in scenes:
            r = seg(scene.image)
            ap.add(r.masks, r.scores, r.class_id, scene.truth.masks, scene.truth.class_id)
            off.append(abs(len(r) - len(scene.truth.masks)))
            errors.append(off[-1] / max(len(scene.truth.masks), 1))
    # Measured on these frames: mask AP50 0.980, mask AP50-95 0.840, counts 5/5, 20/20, 40/40, 80/80.
    assert ap.summary()["mask_ap50"] > 0.95 and ap.summary()["mask_ap"] > 0.80
    assert np.mean(errors) < 0.02 and max(off) <= 1
