"""ColorHistogram: exact colour counts against a plain NumPy histogram, sums, pickling, and the palette of a sum of
histograms against the palette of the list of images."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast import ColorHistogram


def numpy_counts(images: list[np.ndarray]) -> dict[int, int]:
    """Reference: packed RGB colour -> pixel count, by np.unique over all pixels (grey repeated, alpha dropped)."""
    keys = []
    for im in images:
        a = im if im.ndim == 3 else im[..., None]
        rgb = np.repeat(a[..., :1], 3, axis=2) if a.shape[2] < 3 else a[..., :3]
        rgb = rgb.reshape(-1, 3).astype(np.uint32)
        keys.append(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])
    u, c = np.unique(np.concatenate(keys), return_counts=True)
    return dict(zip(u.tolist(), c.tolist()))


def as_dict(h: ColorHistogram) -> dict[int, int]:
    c = h.colors().astype(np.uint32)
    keys = c[:, 0] << 16 | c[:, 1] << 8 | c[:, 2]
    return dict(zip(keys.tolist(), h.counts().tolist()))


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Six different 512 x 768 photos (the samples and their mirror images): 2.36 M pixels, more than any sampling
    threshold the palette search has ever had."""
    s = [qfast.samples.load(n) for n in qfast.samples.names()]
    return s + [np.ascontiguousarray(im[::-1, ::-1]) for im in s]


def test_counts_equal_numpy(photos):
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (37, 41), dtype=np.uint8)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    for im in (photos[0], grey, rgba, grey[..., None], np.dstack([grey, grey])):
        h = ColorHistogram(im)
        assert as_dict(h) == numpy_counts([im])
        assert h.total == im.shape[0] * im.shape[1]
        assert len(h) == len(numpy_counts([im]))
        assert h.colors().dtype == np.uint8 and h.counts().dtype == np.uint64


def test_sum_is_exact_and_order_free(photos):
    hs = [ColorHistogram(im) for im in photos[:3]]
    total = sum(hs)
    assert isinstance(total, ColorHistogram)
    assert as_dict(total) == numpy_counts(photos[:3])
    assert (hs[2] + hs[0]) + hs[1] == hs[0] + (hs[1] + hs[2])
    assert ColorHistogram.from_images(photos[:3]) == total
    assert ColorHistogram() + hs[0] == hs[0]
    assert ColorHistogram.sum(hs) == total
    assert ColorHistogram.sum(iter(hs[:1])) == hs[0] and ColorHistogram.sum([]) == ColorHistogram()
    assert len(ColorHistogram()) == 0 and ColorHistogram().total == 0


def test_running_sum_switches_to_the_dense_table_and_stays_exact(photos):
    from qfast import palette

    hs = [ColorHistogram(im) for im in photos]
    want = hs[0] + hs[1] + hs[2] + hs[3] + hs[4] + hs[5]
    acc = palette.HistogramSum(dense_after=len(hs[0]) + len(hs[1]))
    for h in hs[:2]:
        acc.add(h)
    assert acc._dense is None  # still lists
    for h in hs[2:]:
        acc.add(h)
    assert acc._dense is not None
    assert acc.total() == want
    assert palette.HistogramSum().total() == ColorHistogram()
    # The table from the first histogram on, and lists only, whatever the size: the same sum.
    for dense_after, dense in ((0, True), (None, False)):
        acc = palette.HistogramSum(dense_after=dense_after)
        for h in hs:
            acc.add(h)
        assert (acc._dense is not None) == dense and acc.total() == want
    with pytest.raises(ValueError, match="dense_after"):
        palette.HistogramSum(dense_after=-1)
    with pytest.raises(TypeError, match="dense_after"):
        palette.HistogramSum(dense_after=True)


def test_pil_input_and_pickle_are_compact(photos):
    im = photos[1]
    h = ColorHistogram(Image.fromarray(im))
    assert h == ColorHistogram(im)
    data = pickle.dumps(h)
    assert pickle.loads(data) == h
    assert ColorHistogram.from_bytes(h.to_bytes()) == h
    # Well under the 12 bytes per colour of the arrays, let alone the 3 bytes per pixel of the image.
    assert len(data) < 5 * len(h) + 100
    assert len(data) < im.nbytes / 4


@pytest.mark.parametrize(
    ("k", "kw"),
    [
        (1, {}),
        (16, {}),
        (48, {}),  # the exact Lloyd step on the pixels runs from 32 to 127 colours
        (100, {"color_space": "oklab"}),
        (200, {}),  # the finer grid from 128 colours
        (256, {"method": "kmeans++", "seed": 7}),
        (20, {"method": "median-cut"}),
    ],
)
def test_palette_of_the_sum_equals_the_palette_of_the_list(photos, k, kw):
    total = sum(ColorHistogram(im) for im in photos)
    np.testing.assert_array_equal(qfast.kmeans_palette(total, k, **kw), qfast.kmeans_palette(photos, k, **kw))


def test_few_colours_come_back_exactly():
    rng = np.random.default_rng(2)
    pal = rng.integers(0, 256, (9, 3), dtype=np.uint8)
    a = pal[rng.integers(0, 9, (30, 30))]
    b = pal[rng.integers(0, 5, (10, 70))]
    h = ColorHistogram(a) + ColorHistogram(b)
    for k in (4, 9, 20):
        np.testing.assert_array_equal(qfast.kmeans_palette(h, k), qfast.kmeans_palette([a, b], k))


def test_bad_input():
    with pytest.raises(TypeError):
        ColorHistogram(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        ColorHistogram(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="histogram"):
        qfast.kmeans_palette(ColorHistogram(), 4)
    with pytest.raises(ValueError, match="k"):
        qfast.kmeans_palette(ColorHistogram(np.zeros((2, 2), np.uint8)), 0)
    with pytest.raises(ValueError, match="magic"):
        ColorHistogram.from_bytes(b"not a histogram")
    good = ColorHistogram(qfast.samples.load("hats")).to_bytes()
    with pytest.raises(ValueError, match="truncated|fit"):
        ColorHistogram.from_bytes(good[:-3])
    with pytest.raises(ValueError, match="trailing"):
        ColorHistogram.from_bytes(good + b"\0")
    with pytest.raises(TypeError, match="bytes"):
        ColorHistogram.from_bytes("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ColorHistogram() + 1  # type: ignore[operator]
    with pytest.raises(TypeError, match="ColorHistogram items"):
        ColorHistogram.sum([ColorHistogram(), np.zeros((2, 2), np.uint8)])


@pytest.mark.parametrize(("k", "kw"), [(1, {}), (48, {}), (200, {}), (100, {"color_space": "oklab"}), (1500, {})])
def test_palette_of_the_dense_running_sum_equals_the_palette_of_the_list(photos, k, kw):
    """Past its switch, a HistogramSum is clustered from its dense table (no colour list): the same palette."""
    from qfast import palette

    acc = palette.HistogramSum(dense_after=1)
    for im in photos:
        acc.add(ColorHistogram(im))
    assert acc._dense is not None and acc.pixels == sum(im.shape[0] * im.shape[1] for im in photos)
    np.testing.assert_array_equal(qfast.kmeans_palette(acc, k, **kw), qfast.kmeans_palette(photos, k, **kw))


def test_empty_running_sum_is_refused():
    from qfast import palette

    with pytest.raises(ValueError, match="histogram"):
        qfast.kmeans_palette(palette.HistogramSum(), 4)
