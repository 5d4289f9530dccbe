"""qfast in worker processes: a child made by fork after the parent used qfast's thread pool (and its corrector)
works and gives the parent's results; so do spawn and forkserver workers. Without the fork-safe pool, the child's
first parallel call waited for ever on a pool whose threads did not survive the fork."""

from __future__ import annotations

import multiprocessing as mp
import sys
import warnings

import numpy as np
import pytest

import qfast

TIMEOUT = 120  # seconds for the whole pool's work; a hang fails here instead of blocking the suite


def _image() -> np.ndarray:
    return np.ascontiguousarray(qfast.samples.load()[:256, :384])  # big enough for every kernel to go parallel


def _results(img: np.ndarray) -> dict[str, bytes]:
    """Every parallel entry point once, as bytes to compare across processes."""
    q = qfast.quantize_colors(img, 16)
    out = {
        "uniform": qfast.quantize_uniform(img, 8),
        "indices": qfast.uniform_indices(img, [4, 8, 16]),
        "lloyd-max": qfast.quantize_lloyd_max(img, 8).image(),
        "mu-law": qfast.quantize_mu_law(img, 8).image(),
        "palette": q.indices,
        "remap": qfast.remap(img, q.palette),
        "floyd-steinberg": qfast.remap(img, q.palette, dither="floyd-steinberg"),
        "bayer8": qfast.remap(img, q.palette, dither="bayer8"),
        "pack": qfast.pack_bits(qfast.uniform_indices(img, 8), 3),
        "ssim": np.float64(qfast.ssim(img, qfast.quantize_uniform(img, 4))),
        "encode": np.frombuffer(qfast.encode(img, max_error=2, corrector=None), np.uint8),
        "decode": qfast.decode(qfast.encode(img, max_error=0, corrector=None)),
        "corrector": qfast.Corrector().correct(qfast.quantize_uniform(img, 8), 8),
    }
    return {k: np.asarray(v).tobytes() for k, v in out.items()}


def _child(_: int) -> dict[str, bytes]:
    return _results(_image())


@pytest.fixture(scope="module")
def parent_results() -> dict[str, bytes]:
    # Using every kernel in the parent first is what made forked children hang.
    return _results(_image())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_workers_match_the_parent(method: str, parent_results: dict[str, bytes]) -> None:
    if method not in mp.get_all_start_methods():
        pytest.fail(f"start method {method} missing on {sys.platform}")  # all three exist on Linux
    ctx = mp.get_context(method)
    with warnings.catch_warnings():
        # Python 3.12+ warns that fork in a multi-threaded process may deadlock: that is what this test checks.
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        with ctx.Pool(2) as pool:
            try:
                got = pool.map_async(_child, range(2)).get(timeout=TIMEOUT)
            except mp.TimeoutError:
                pytest.fail(f"{method} workers did not finish within {TIMEOUT} s (a hang)")
    for child in got:
        for name, want in parent_results.items():
            assert child[name] == want, f"{method}: {name} differs from the parent's"


def test_thread_count_is_this_process_pool() -> None:
    n = qfast._core.thread_count()
    assert n >= 1
    ctx = mp.get_context("fork")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        with ctx.Pool(1) as pool:
            assert pool.apply_async(qfast._core.thread_count).get(timeout=TIMEOUT) == n


def test_set_thread_count_in_this_process():
    _core = qfast._core
    before = _core.thread_count()
    # 200 columns: error diffusion runs in diagonal strips 64 columns wide, shared among the threads.
    img = np.random.default_rng(1).integers(0, 256, (64, 200, 3), dtype=np.uint8)
    dithers = ("floyd-steinberg", "atkinson")
    want = [qfast.quantize_colors(img, 16, dither=d).indices for d in dithers]
    try:
        for n in (1, 3, 1):
            _core.set_thread_count(n)
            assert _core.thread_count() == n
            for d, w in zip(dithers, want):
                np.testing.assert_array_equal(qfast.quantize_colors(img, 16, dither=d).indices, w)
        with pytest.raises(ValueError, match="n: expected a thread count >= 1"):
            _core.set_thread_count(0)
    finally:
        _core.set_thread_count(before)


_SHARED: dict[str, object] = {}


def _correct_with_parents_session(_: int) -> bytes:
    c = _SHARED["corrector"]
    img = _SHARED["input"]
    return np.asarray(c.correct(img, 8)).tobytes()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_forked_child_runs_a_corrector_made_by_the_parent() -> None:
    # An onnxruntime session made (and run) in the parent: its worker threads do not exist in the child.
    c = qfast.Corrector()
    img = qfast.quantize_uniform(_image(), 8)
    want = np.asarray(c.correct(img, 8)).tobytes()
    _SHARED.update(corrector=c, input=img)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        with mp.get_context("fork").Pool(2) as pool:
            try:
                got = pool.map_async(_correct_with_parents_session, range(2)).get(timeout=TIMEOUT)
            except mp.TimeoutError:
                pytest.fail(f"the forked corrector did not finish within {TIMEOUT} s (a hang)")
    assert got == [want, want]
