import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeseg.errors import InputError
from edgeseg.preprocess import check_frame, make_transform, preprocess
from edgeseg.spec import ColorOrder, InputSpec, Layout, Normalization, ResizeMode

sizes = st.integers(min_value=1, max_value=2000)
inputs = st.integers(min_value=8, max_value=1024)


@settings(max_examples=400, deadline=None)
@given(h=sizes, w=sizes, ih=inputs, iw=inputs, resize=st.sampled_from(list(ResizeMode)))
def test_transform_round_trip_and_content_box(h, w, ih, iw, resize):
    t = make_transform((h, w), (ih, iw), resize)
    ch, cw = t.content_hw
    px, py = t.pad_xy
    # The resized frame fits inside the input, and padding is split evenly (off by at most one).
    assert 1 <= ch <= ih and 1 <= cw <= iw
    assert px >= 0 and py >= 0 and px + cw <= iw and py + ch <= ih
    assert abs((iw - cw - px) - px) <= 1 and abs((ih - ch - py) - py) <= 1
    if resize == ResizeMode.LETTERBOX:
        assert cw == iw or ch == ih  # one side fills the input
    # The frame's corners land exactly on the content box, and map back exactly.
    corners = np.array([[0, 0], [w, h]], dtype=np.float64)
    np.testing.assert_allclose(t.to_model_xy(corners), [[px, py], [px + cw, py + ch]], atol=1e-9)
    pts = np.random.default_rng(h * 7 + w).uniform(0, [w, h], (16, 2))
    np.testing.assert_allclose(t.to_frame_xy(t.to_model_xy(pts)), pts, atol=1e-9 * max(h, w))
    box = np.array([[0, 0, w, h]], np.float64)
    np.testing.assert_allclose(t.to_frame_xyxy(t.to_model_xyxy(box)), box, rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), ih=st.integers(8, 128), iw=st.integers(8, 128))
def test_preprocess_puts_content_where_transform_says(h, w, ih, iw):
    frame = np.full((h, w, 3), 200, np.uint8)
    spec = InputSpec(name="x", size_hw=(ih, iw), layout=Layout.NHWC, normalization=None, pad_value=7)
    tensor, t = preprocess(frame, spec)
    assert tensor.shape == (1, ih, iw, 3) and tensor.dtype == np.uint8
    ch, cw = t.content_hw
    px, py = t.pad_xy
    img = tensor[0]
    assert (img[py:py + ch, px:px + cw] == 200).all()
    pad = np.ones((ih, iw), bool)
    pad[py:py + ch, px:px + cw] = False
    assert (img[pad] == 7).all()


def test_normalization_layout_colour_against_numpy():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    for layout in Layout:
        for color in ColorOrder:
            for norm in (Normalization(), Normalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))):
                spec = InputSpec(name="x", size_hw=(30, 40), layout=layout, color=color, normalization=norm)
                tensor, _ = preprocess(frame, spec)
                img = frame[:, :, ::-1] if color == ColorOrder.RGB else frame
                want = (img * norm.scale - np.array(norm.mean)) / np.array(norm.std)
                if layout == Layout.NCHW:
                    want = want.transpose(2, 0, 1)
                assert tensor.dtype == np.float32
                np.testing.assert_allclose(tensor[0], want, atol=1e-5)


def test_frame_checks():
    gray = np.zeros((10, 12), np.uint8)
    assert check_frame(gray).shape == (10, 12, 3)  # grayscale is converted
    assert check_frame(np.zeros((10, 12, 1), np.uint8)).shape == (10, 12, 3)
    assert check_frame(np.zeros((10, 12, 4), np.uint8)).shape == (10, 12, 3)  # alpha dropped
    with pytest.raises(InputError, match="got shape \\(10, 12, 3\\) float32"):
        check_frame(np.zeros((10, 12, 3), np.float32))
    with pytest.raises(InputError, match="non-empty"):
        check_frame(np.zeros((0, 12, 3), np.uint8))
    with pytest.raises(InputError, match="got shape \\(10, 12, 2\\)"):
        check_frame(np.zeros((10, 12, 2), np.uint8))
    with pytest.raises(InputError, match="got list"):
        check_frame([[1, 2, 3]])
    with pytest.raises(InputError, match="got shape \\(2, 10, 12, 3\\)"):
        check_frame(np.zeros((2, 10, 12, 3), np.uint8))
