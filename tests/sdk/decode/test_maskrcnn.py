import numpy as np
import pytest

from edgeseg.decode import InstanceOptions, decode_maskrcnn
from edgeseg.errors import DecodeError
from edgeseg.preprocess import make_transform
from edgeseg.spec import ResizeMode
from tests.sdk.decode import reference


def _reference_paste(mask, box_in, t):
    """Every frame pixel centre mapped into the box's m×m grid, bilinear, background outside the box."""
    m = mask.shape[0]
    h, w = t.frame_hw
    x_in = (np.arange(w) + 0.5) * t.scale_xy[0] + t.pad_xy[0]
    y_in = (np.arange(h) + 0.5) * t.scale_xy[1] + t.pad_xy[1]
    bx0, by0, bx1, by1 = box_in
    u = np.clip((x_in - bx0) / ((bx1 - bx0) / m) - 0.5, 0, m - 1)
    v = np.clip((y_in - by0) / ((by1 - by0) / m) - 0.5, 0, m - 1)
    inside = ((y_in >= by0) & (y_in < by1))[:, None] & ((x_in >= bx0) & (x_in < bx1))[None, :]
    return (reference.bilinear_full(mask, u, v) > 0.5) & inside


def test_masks_match_reference_paste():
    rng = np.random.default_rng(0)
    t = make_transform((300, 400), (240, 320), ResizeMode.LETTERBOX)
    boxes = np.array([[10, 10, 100, 80], [150, 60, 310, 230], [0, 0, 320, 240], [200, 30, 205, 34]], np.float32)
    yy, xx = np.mgrid[0:28, 0:28]
    masks = np.stack([np.exp(-((xx - 14) ** 2 + (yy - 13) ** 2) / (2 * s ** 2)) for s in (6, 9, 12, 4)])
    masks = (masks + rng.uniform(0, 0.1, masks.shape)).astype(np.float32)[:, None]
    r = decode_maskrcnn(boxes=boxes, labels=np.array([1, 2, 1, 3]), scores=np.array([0.9, 0.8, 0.7, 0.95]),
                        masks=masks, t=t, opts=InstanceOptions(conf=0.5))
    assert len(r) == 4
    order = [3, 0, 1, 2]  # by score
    for i, k in enumerate(order):
        want = _reference_paste(masks[k, 0].astype(np.float64), boxes[k], t)
        assert reference.mask_iou(r.masks.full(i), want) >= 0.99
    assert r.class_id.tolist() == [3, 1, 2, 1]


def test_filters_and_empty():
    t = make_transform((100, 100), (100, 100), ResizeMode.STRETCH)
    r = decode_maskrcnn(boxes=np.zeros((0, 4)), labels=np.zeros(0), scores=np.zeros(0),
                        masks=np.zeros((0, 1, 28, 28)), t=t, opts=InstanceOptions())
    assert len(r) == 0
    boxes = np.array([[10, 10, 50, 50], [10, 10, 10, 50], [np.nan, 0, 5, 5], [20, 20, 60, 60]], np.float32)
    r = decode_maskrcnn(boxes=boxes, labels=np.ones(4), scores=np.array([0.9, 0.9, 0.9, 0.1]),
                        masks=np.ones((4, 1, 28, 28)), t=t, opts=InstanceOptions(conf=0.5))
    assert len(r) == 1
    with pytest.raises(DecodeError, match="disagree"):
        decode_maskrcnn(boxes=boxes, labels=np.ones(3), scores=np.ones(4), masks=np.ones((4, 1, 28, 28)), t=t,
                        opts=InstanceOptions())
