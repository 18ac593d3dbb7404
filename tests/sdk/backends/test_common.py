import numpy as np

from edgeseg.backends._common import dequantize, quantize


def test_quantize_rounds_and_clips():
    x = np.array([-10.0, -0.26, -0.24, 0.0, 0.24, 0.26, 10.0], np.float32)
    np.testing.assert_array_equal(quantize(x, 0.5, 3, np.int8), [-17, 2, 3, 3, 3, 4, 23])
    np.testing.assert_array_equal(quantize(x, 0.01, -128, np.int8), [-128, -128, -128, -128, -104, -102, 127])
    np.testing.assert_array_equal(quantize(x, 0.1, 0, np.uint8), [0, 0, 0, 0, 2, 3, 100])


def test_dequantize_inverts_quantize_within_half_a_step():
    x = np.linspace(-1, 1, 101, dtype=np.float32)
    q = quantize(x, 1 / 127, 0, np.int8)
    back = dequantize(q, 1 / 127, 0)
    assert back.dtype == np.float32
    assert np.abs(back - x).max() <= 0.5 / 127 + 1e-7
