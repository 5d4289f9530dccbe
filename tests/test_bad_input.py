"""Every bad input of the foundation API gets a clear TypeError or ValueError naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import qfast

IMG = np.zeros((8, 9, 3), np.uint8)

IMAGE_FUNCTIONS = {
    "uniform_indices": lambda x, **kw: qfast.uniform_indices(x, **kw),
    "quantize_uniform": lambda x, **kw: qfast.quantize_uniform(x, **kw),
    "quantize_lloyd_max": lambda x, **kw: qfast.quantize_lloyd_max(x, **kw),
    "quantize_mu_law": lambda x, **kw: qfast.quantize_mu_law(x, **kw),
    "dequantize_uniform": lambda x, **kw: qfast.dequantize_uniform(x, **kw),
}


@pytest.fixture(params=sorted(IMAGE_FUNCTIONS))
def fn(request):
    return IMAGE_FUNCTIONS[request.param]


# The scalar quantizers take uint16 images (tests/quantize/test_sixteen_bit.py); dequantize_uniform does not.
TAKE_UINT16 = {"uniform_indices", "quantize_uniform", "quantize_lloyd_max", "quantize_mu_law"}


@pytest.mark.parametrize(
    "name,dtype",
    [
        (name, dtype)
        for name in sorted(IMAGE_FUNCTIONS)
        for dtype in [np.float32, np.float64, np.int16, np.uint16, np.int64, bool]
        if not (dtype is np.uint16 and name in TAKE_UINT16)
    ],
)
def test_wrong_dtype(name, dtype):
    with pytest.raises(TypeError, match=r"(image|indices): expected dtype uint8, got"):
        IMAGE_FUNCTIONS[name](IMG.astype(dtype), levels=4)


@pytest.mark.parametrize("shape", [(5,), (2, 2, 3, 4, 1), (4, 4, 5), (4, 4, 0)])  # 4-D is a stack (test_arrays.py)
def test_wrong_ndim_or_channels(fn, shape):
    with pytest.raises(ValueError, match=r"(image|indices): expected shape \(H, W\) or \(H, W, C\)"):
        fn(np.zeros(shape, np.uint8), levels=4)


@pytest.mark.parametrize("shape", [(0, 4), (4, 0, 3), (0, 0)])
def test_empty(fn, shape):
    with pytest.raises(ValueError, match="non-empty"):
        fn(np.zeros(shape, np.uint8), levels=4)


def test_not_an_array(fn):
    with pytest.raises(TypeError, match="expected a NumPy uint8 array or a PIL image, got list"):
        fn([[1, 2], [3, 4]], levels=4)


@pytest.mark.parametrize("levels", [0, 1, 257, -3, [4, 4], [4, 4, 4, 4], (2, 300, 4)])
def test_levels_out_of_range_or_wrong_length(fn, levels):
    with pytest.raises(ValueError, match="levels: expected"):
        fn(IMG, levels=levels)


@pytest.mark.parametrize("levels", [4.0, "4", True, None])
def test_levels_wrong_type(fn, levels):
    with pytest.raises(TypeError, match="levels"):
        fn(IMG, levels=levels)


@pytest.mark.parametrize("bits", [0, 9, -1, [2, 2]])
def test_bits_out_of_range(fn, bits):
    with pytest.raises(ValueError, match="bits: expected"):
        fn(IMG, bits=bits)


def test_levels_and_bits_together(fn):
    with pytest.raises(TypeError, match="exactly one of levels or bits"):
        fn(IMG, levels=4, bits=2)


def test_bad_reconstruction():
    with pytest.raises(ValueError, match="reconstruction: expected 'midpoint' or 'full-range'"):
        qfast.quantize_uniform(IMG, 4, reconstruction="middle")


def test_indices_beyond_levels():
    idx = np.zeros((4, 4, 3), np.uint8)
    idx[1, 2, 1] = 4
    with pytest.raises(ValueError, match="indices: index 4 in channel 1 is out of range for 4 levels"):
        qfast.dequantize_uniform(idx, 4)


@pytest.mark.parametrize(
    "kw,err,needle",
    [
        ({"max_iter": -1}, ValueError, "max_iter"),
        ({"max_iter": 2.5}, TypeError, "max_iter"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"tol": float("nan")}, ValueError, "tol"),
    ],
)
def test_lloyd_max_options(kw, err, needle):
    with pytest.raises(err, match=needle):
        qfast.quantize_lloyd_max(IMG, 4, **kw)


@pytest.mark.parametrize("mu", [0.0, -5.0, float("inf"), float("nan")])
def test_mu_out_of_range(mu):
    with pytest.raises(ValueError, match="mu: expected a finite number > 0"):
        qfast.quantize_mu_law(IMG, 4, mu=mu)


def test_unsupported_pil_mode():
    from PIL import Image

    with pytest.raises(TypeError, match="mode 'I;16'"):
        qfast.kmeans_palette(Image.new("I;16", (4, 4)), 4)  # 16-bit: the scalar quantizers only


# pack_bits / unpack_bits


@pytest.mark.parametrize("bits", [0, 9, -2])
def test_pack_bits_out_of_range(bits):
    with pytest.raises(ValueError, match="bits: expected 1..8"):
        qfast.pack_bits(np.zeros(4, np.uint8), bits)
    with pytest.raises(ValueError, match="bits: expected 1..8"):
        qfast.unpack_bits(np.zeros(4, np.uint8), bits, 4)


@pytest.mark.parametrize("bits", range(1, 8))
def test_pack_values_too_large(bits):
    v = np.zeros(100, np.uint8)
    v[37] = 1 << bits
    with pytest.raises(ValueError, match=f"values: value {1 << bits} at position 37 does not fit in {bits} bits"):
        qfast.pack_bits(v, bits)


def test_pack_wrong_dtype():
    with pytest.raises(TypeError, match="values: expected dtype uint8, got int32"):
        qfast.pack_bits(np.zeros(4, np.int32), 2)
    with pytest.raises(TypeError, match="packed: expected dtype uint8"):
        qfast.unpack_bits(np.zeros(4, np.float32), 2, 4)


def test_packed_too_short():
    with pytest.raises(ValueError, match=r"packed: 9 values of 3 bits need 4 bytes, got 3"):
        qfast.unpack_bits(np.zeros(3, np.uint8), 3, 9)


def test_negative_count():
    with pytest.raises(ValueError, match="count: expected 0.."):
        qfast.unpack_bits(np.zeros(3, np.uint8), 3, -1)


# metrics


@pytest.mark.parametrize("metric", [qfast.mse, qfast.psnr, qfast.ssim])
def test_metrics_mismatched_shapes(metric):
    with pytest.raises(ValueError, match=r"b: expected the shape of a \(20, 20, 3\), got \(20, 21, 3\)"):
        metric(np.zeros((20, 20, 3), np.uint8), np.zeros((20, 21, 3), np.uint8))


@pytest.mark.parametrize("metric", [qfast.mse, qfast.psnr, qfast.ssim])
def test_metrics_wrong_dtype(metric):
    with pytest.raises(TypeError, match="a: expected dtype uint8, got float64"):
        metric(np.zeros((20, 20)), np.zeros((20, 20), np.uint8))


def test_ssim_too_small():
    with pytest.raises(ValueError, match="at least 11 x 11"):
        qfast.ssim(np.zeros((10, 30), np.uint8), np.zeros((10, 30), np.uint8))


def test_psnr_bad_data_range():
    with pytest.raises(ValueError, match="data_range"):
        qfast.psnr(IMG, IMG, data_range=0)


# the compiled core directly: bad calls are exceptions, never a panic


def test_core_rejects_bad_calls_without_panicking():
    from qfast import _core

    with pytest.raises(ValueError, match="C-contiguous"):
        _core.quantize_uniform(np.zeros((4, 6), np.uint8)[:, ::2], [4], "midpoint")
    with pytest.raises(ValueError, match="levels"):
        _core.quantize_uniform(IMG, [4], "midpoint")
    with pytest.raises(ValueError, match="levels: expected 2..256"):
        _core.uniform_indices(IMG, [4, 1, 4])
    with pytest.raises(ValueError, match="codebook"):
        _core.apply_codebooks(IMG, [[1], [2]])
    with pytest.raises(ValueError, match="indices"):
        _core.apply_codebooks(np.full((2, 2), 9, np.uint8), [[1, 2]])
    with pytest.raises(ValueError, match="reconstruction"):
        _core.dequantize_uniform(IMG, [4, 4, 4], "bogus")
