"""qfast.dask on a real distributed.LocalCluster (2 worker processes, loopback): the batch commands and the shared
palette against the local run, and dask.array images against the in-memory arrays."""

from __future__ import annotations

import json
from pathlib import Path

import batch_images
import numpy as np
import pytest

import qfast
from qfast import batch

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
qd = pytest.importorskip("qfast.dask")


@pytest.fixture
def images() -> dict:
    return batch_images.crops()


@pytest.fixture
def src(tmp_path, images):
    """A folder of the crops, in subfolders."""
    return batch_images.write_folder(tmp_path / "src", images)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def manifest(out: Path) -> list[dict]:
    recs = [json.loads(x) for x in (out / "qfast-batch.jsonl").read_text().splitlines()]
    for r in recs:
        r.pop("ms")
        r["input"] = Path(r["input"]).name
        r["output"] = Path(r["output"]).relative_to(out).as_posix()
    return sorted(recs, key=lambda r: r["output"])


@pytest.mark.parametrize(
    ("command", "options"),
    [("quantize", {"bits": 3}), ("palette", {"colors": 12, "dither": "bayer8"}), ("encode", {"max_error": 2})],
)
def test_batch_on_the_cluster_equals_the_local_run(client, src, tmp_path, command, options):
    (src / "junk.png").write_bytes(b"junk")
    local = batch.run(command, [src], tmp_path / "local", workers=2, quiet=True, **options)
    remote = batch.run(command, [src], tmp_path / "dask", client=client, quiet=True, **options)
    assert (remote.ok, remote.failed) == (local.ok, local.failed) == (8, 1)
    assert manifest(tmp_path / "dask") == manifest(tmp_path / "local")
    for p in (tmp_path / "local").rglob("*"):
        if p.is_file() and p.name != "qfast-batch.jsonl":
            q = tmp_path / "dask" / p.relative_to(tmp_path / "local")
            assert q.read_bytes() == p.read_bytes(), p


def test_shared_palette_by_tree_reduction(client, src, tmp_path, images):
    local = batch.run("palette", [src], tmp_path / "local", workers=2, shared=32, quiet=True)
    remote = batch.run("palette", [src], tmp_path / "dask", client=client, shared=32, quiet=True)
    want = qfast.kmeans_palette([np.dstack([v] * 3) if v.ndim == 2 else v[..., :3] for v in images.values()], 32)
    np.testing.assert_array_equal(remote.palette, want)
    np.testing.assert_array_equal(local.palette, want)
    # Many chunks, so the tree has more than one level of merges.
    pal, bad = batch.shared_palette([src], 32, engine=qd.DaskEngine(client))
    np.testing.assert_array_equal(pal, want)
    h, errs = qd.DaskEngine(client).sum_histograms([[str(p)] for p in sorted(src.rglob("*.png"))] * 3)
    assert errs == [] and h.total == 3 * sum(v.shape[0] * v.shape[1] for v in images.values())


def _fails_on_three(x: int) -> int:
    if x == 3:
        raise RuntimeError("task three went wrong")
    return 2 * x


@pytest.mark.parametrize("per_task", [1, 3, 8])
def test_a_failing_item_is_one_failed_item(client, per_task):
    # Several items a task: the one that raises fails alone, every other item of its task still comes back.
    eng = qd.DaskEngine(client, window=3, files_per_task=per_task)
    got = dict(eng.map_unordered(_fails_on_three, iter(range(40))))
    lost = got.pop(3)
    assert isinstance(lost, batch.Lost) and "task three went wrong" in lost.message
    assert got == {x: 2 * x for x in range(40) if x != 3}
    with pytest.raises(ValueError, match="files_per_task"):
        qd.DaskEngine(client, files_per_task=0)


@pytest.fixture(scope="module")
def big():
    img = np.concatenate([qfast.samples.load("parrots"), qfast.samples.load("hats")], axis=0)  # 1024 x 768
    return img, da.from_array(img, chunks=(301, 250, 2))  # odd blocks, channels split (rechunked inside)


def test_elementwise_quantizers_blockwise_equal_in_memory(client, big):
    img, arr = big
    np.testing.assert_array_equal(qd.quantize_uniform(arr, [5, 6, 3]).compute(), qfast.quantize_uniform(img, [5, 6, 3]))
    np.testing.assert_array_equal(
        qd.quantize_uniform(arr, bits=2, reconstruction="full-range").compute(),
        qfast.quantize_uniform(img, bits=2, reconstruction="full-range"),
    )
    np.testing.assert_array_equal(qd.uniform_indices(arr, 7).compute(), qfast.uniform_indices(img, 7))
    np.testing.assert_array_equal(
        qd.quantize_mu_law(arr, 8, mu=50).compute(), qfast.quantize_mu_law(img, 8, mu=50).image()
    )
    grey = np.ascontiguousarray(img[..., 1])
    np.testing.assert_array_equal(
        qd.quantize_uniform(da.from_array(grey, chunks=200), 4).compute(), qfast.quantize_uniform(grey, 4)
    )


def test_palette_and_remap_blockwise_equal_in_memory(client, big):
    img, arr = big
    assert qd.histogram(arr) == qfast.ColorHistogram(img)
    for k in (16, 64, 160):
        pal = qd.kmeans_palette(arr, k)
        np.testing.assert_array_equal(pal, qfast.kmeans_palette(img, k))
    pal = qfast.kmeans_palette(img, 24)
    for dither in ("none", "bayer4", "bayer8"):
        got = qd.remap(arr, pal, dither=dither).compute()
        np.testing.assert_array_equal(got, qfast.remap(img, pal, dither=dither), err_msg=dither)


def test_bad_input(client, big):
    img, arr = big
    with pytest.raises(ValueError, match="diffuses"):
        qd.remap(arr, [[0, 0, 0]], dither="floyd-steinberg")
    with pytest.raises(TypeError, match="uint8"):
        qd.quantize_uniform(arr.astype(np.float32), 4)
    with pytest.raises(ValueError, match="shape"):
        qd.quantize_uniform(da.zeros((4, 4, 5), dtype=np.uint8), 4)
    with pytest.raises(ValueError, match="levels"):
        qd.quantize_uniform(arr, 1)
    with pytest.raises(ValueError, match="palette"):
        qd.remap(arr, np.zeros((0, 3), np.uint8))
    with pytest.raises(OSError, match="no Dask scheduler answers"):
        qd.connect("tcp://127.0.0.1:9", timeout=1)


def _core_threads() -> int:
    from qfast import _core

    return _core.thread_count()


def _use_qfast() -> int:
    """Runs a parallel qfast call in the worker, so that its pool exists (as in a worker used before a batch)."""
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return len(qfast.quantize_colors(img, 8).palette)


def test_engine_gives_workers_one_thread_even_after_they_ran_qfast(client):
    """Workers whose pool was built with both cores (they ran qfast first) get one compute thread a task when the
    engine starts, and still compute the same results."""
    client.run(lambda: __import__("os").environ.pop("RAYON_NUM_THREADS", None))
    client.run(lambda: __import__("qfast")._core.set_thread_count(2))
    assert set(client.run(_use_qfast).values()) == {8}
    assert set(client.run(_core_threads).values()) == {2}
    qd.DaskEngine(client)
    assert set(client.run(_core_threads).values()) == {1}
    assert set(client.run(_use_qfast).values()) == {8}
