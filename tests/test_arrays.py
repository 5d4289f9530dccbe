"""Beyond plain arrays: array-likes in (without copies), stacks (N, H, W, C) against a loop over the images, and
NumPy's ``out=`` convention."""

from __future__ import annotations

import numpy as np
import pytest

import qfast
from qfast._validate import as_image


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return np.array(qfast.samples.load()[:120, :160])


@pytest.fixture(scope="module")
def stack(img: np.ndarray) -> np.ndarray:
    return np.stack([img, img[::-1], np.ascontiguousarray(img[:, ::-1])])


class _ArrayLike:
    """An object NumPy reads through ``__array__`` only (as many array libraries expose)."""

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a


def test_array_likes_are_accepted_without_a_copy(img: np.ndarray) -> None:
    want = qfast.quantize_uniform(img, 8)
    assert np.array_equal(qfast.quantize_uniform(_ArrayLike(img), 8), want)
    mv = memoryview(img)
    assert np.array_equal(qfast.quantize_uniform(mv, 8), want)
    ro = img.copy()
    ro.flags.writeable = False  # a read-only buffer is fine as an input
    assert np.array_equal(qfast.quantize_uniform(ro, 8), want)
    for like in (_ArrayLike(img), mv, ro):
        assert np.shares_memory(as_image(like), img if like is not ro else ro)  # read in place, not copied


@pytest.mark.torch
def test_cpu_torch_tensors_in_hwc_and_a_clear_error_for_chw(img: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(img.copy())
    assert np.array_equal(qfast.quantize_uniform(t, 8), qfast.quantize_uniform(img, 8))
    assert np.shares_memory(as_image(t), t.numpy())  # zero-copy
    with pytest.raises(ValueError, match=r"^image: a tensor of shape \(3, 120, 160\) looks like \(C, H, W\)"):
        qfast.quantize_uniform(t.permute(2, 0, 1), 8)
    with pytest.raises(TypeError, match="^image: expected a CPU tensor, got one on meta"):
        qfast.quantize_uniform(torch.zeros(8, 8, 3, dtype=torch.uint8, device="meta"), 8)
    with pytest.raises(TypeError, match="^image: expected dtype uint8, got float32"):
        qfast.quantize_uniform(t.float(), 8)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: qfast.uniform_indices(x, [4, 8, 16]),
        lambda x: qfast.quantize_uniform(x, bits=3, reconstruction="full-range"),
        lambda x: qfast.dequantize_uniform(qfast.uniform_indices(x, 8), 8),
        lambda x: qfast.quantize_mu_law(x, 8).image(),
    ],
)
def test_elementwise_functions_on_a_stack_equal_a_loop(fn, stack: np.ndarray) -> None:
    got = fn(stack)
    assert got.shape == stack.shape
    for frame, g in zip(stack, got):
        assert np.array_equal(g, fn(frame))


def test_lloyd_max_on_a_stack_fits_one_quantizer_to_all_of_it(stack: np.ndarray) -> None:
    q = qfast.quantize_lloyd_max(stack, 8)
    tall = qfast.quantize_lloyd_max(stack.reshape(-1, *stack.shape[2:]), 8)  # the same pixels as one image
    assert q.indices.shape == stack.shape
    assert all(np.array_equal(a, b) for a, b in zip(q.codebook, tall.codebook))
    assert np.array_equal(q.image().reshape(tall.image().shape), tall.image())


@pytest.mark.parametrize("dither", ["none", "floyd-steinberg", "bayer8"])
def test_remap_of_a_stack_maps_each_image_on_its_own(stack: np.ndarray, dither: str) -> None:
    pal = qfast.kmeans_palette(stack[0], 16)
    got = qfast.remap(stack, pal, dither=dither)
    assert got.shape == stack.shape[:3]
    for frame, g in zip(stack, got):
        assert np.array_equal(g, qfast.remap(frame, pal, dither=dither))


def test_metrics_of_stacks_are_per_image(stack: np.ndarray) -> None:
    q = qfast.quantize_uniform(stack, 4)
    for metric in (qfast.mse, qfast.psnr, qfast.ssim):
        got = metric(stack, q)
        assert isinstance(got, np.ndarray) and got.shape == (3,)
        np.testing.assert_array_equal(got, [metric(a, b) for a, b in zip(stack, q)])
    with pytest.raises(ValueError, match="^b: expected the shape of a"):
        qfast.psnr(stack, q[:2])


def test_bad_stacks() -> None:
    with pytest.raises(ValueError, match=r"^image: expected a non-empty stack \(N, H, W, C\) with C in 1..4"):
        qfast.quantize_uniform(np.zeros((2, 8, 8, 5), np.uint8), 4)
    with pytest.raises(TypeError, match="^image: expected dtype uint8"):
        qfast.quantize_uniform(np.zeros((2, 8, 8, 3), np.float32), 4)
    ragged = [np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)]
    with pytest.raises(ValueError, match=r"^image: expected images of one shape to stack, got \(8, 8, 3\) at \[0\]"):
        qfast.quantize_uniform(ragged, 4)


def test_a_list_of_images_is_a_stack(stack: np.ndarray) -> None:
    assert np.array_equal(qfast.quantize_uniform(list(stack), 8), qfast.quantize_uniform(stack, 8))
    np.testing.assert_array_equal(qfast.psnr(list(stack), list(stack[::-1])), qfast.psnr(stack, stack[::-1]))


def test_out_is_written_and_returned(img: np.ndarray, stack: np.ndarray) -> None:
    want = qfast.quantize_uniform(img, 8)
    out = np.zeros_like(img)
    assert qfast.quantize_uniform(img, 8, out=out) is out and np.array_equal(out, want)
    idx = np.zeros_like(img)
    assert qfast.uniform_indices(img, 8, out=idx) is idx and np.array_equal(idx, qfast.uniform_indices(img, 8))
    back = np.zeros_like(img)
    assert qfast.dequantize_uniform(idx, 8, out=back) is back and np.array_equal(back, want)
    souts = np.zeros_like(stack)
    assert qfast.quantize_uniform(stack, 8, out=souts) is souts
    assert np.array_equal(souts, qfast.quantize_uniform(stack, 8))
    q = qfast.quantize_mu_law(img, 8)
    rec = np.zeros_like(img)
    assert q.image(out=rec) is rec and np.array_equal(rec, q.image())
    pal = qfast.kmeans_palette(img, 8)
    m = np.zeros(img.shape[:2], np.uint8)
    assert qfast.remap(img, pal, out=m) is m and np.array_equal(m, qfast.remap(img, pal))


def test_out_may_be_the_input_itself(img: np.ndarray) -> None:
    x = img.copy()
    assert qfast.quantize_uniform(x, 8, out=x) is x
    assert np.array_equal(x, qfast.quantize_uniform(img, 8))


def test_bad_out_is_a_clear_error(img: np.ndarray) -> None:
    cases = [
        (np.zeros((4, 4, 3), np.uint8), ValueError, r"^out: expected shape \(120, 160, 3\), got \(4, 4, 3\)"),
        (np.zeros(img.shape, np.float32), TypeError, "^out: expected dtype uint8, got float32"),
        (np.zeros((120, 320, 3), np.uint8)[:, ::2], ValueError, "^out: expected a C-contiguous array"),
        ([0] * 10, TypeError, "^out: expected a NumPy uint8 array, got list"),
    ]
    ro = np.zeros_like(img)
    ro.flags.writeable = False
    cases.append((ro, ValueError, "^out: expected a writeable array"))
    for out, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            qfast.quantize_uniform(img, 8, out=out)
    with pytest.raises(ValueError, match=r"^out: expected shape \(120, 160\)"):
        qfast.remap(img, [[0, 0, 0]], out=np.zeros(img.shape, np.uint8))
