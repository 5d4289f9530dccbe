"""qfast.batch: every output against the single-file API on that file, the manifest, resumption, bad files, bad
batches, the process pool (a worker that dies), and the shared palette against kmeans_palette of the list."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from pathlib import Path

import batch_images
import numpy as np
import pytest
from PIL import Image

import qfast
from qfast import batch


@pytest.fixture
def images() -> dict:
    return batch_images.crops()


@pytest.fixture
def src(tmp_path, images):
    """A folder of the crops, in subfolders."""
    return batch_images.write_folder(tmp_path / "src", images)


def read(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def records(out: Path) -> dict[str, dict]:
    lines = (out / "qfast-batch.jsonl").read_text().splitlines()
    return {Path(d["input"]).as_posix(): d for d in map(json.loads, lines)}


def test_quantize_outputs_equal_the_single_file_api(src, images, tmp_path):
    out = tmp_path / "out"
    report = batch.run("quantize", [src], out, workers=2, bits=3, quiet=True)
    assert (report.total, report.ok, report.failed, report.exit_code) == (len(images), len(images), 0, 0)
    for rel, img in images.items():
        got = read(out / rel)
        want = qfast.quantize_uniform(img, bits=3)
        np.testing.assert_array_equal(got, want, err_msg=rel)
    recs = records(out)
    assert len(recs) == len(images)
    r = recs[(src / "hats.png").as_posix()]
    assert r["status"] == "ok" and r["error"] is None
    assert r["bytes_in"] == (src / "hats.png").stat().st_size and r["bytes_out"] == (out / "hats.png").stat().st_size
    assert r["bpp"] == pytest.approx(8 * r["bytes_out"] / (64 * 96), abs=1e-3)
    want = qfast.quantize_uniform(images["hats.png"], bits=3)
    assert r["psnr"] == pytest.approx(qfast.psnr(images["hats.png"], want), abs=1e-3)
    assert r["ssim"] == pytest.approx(qfast.ssim(images["hats.png"], want), abs=1e-3)
    assert r["ms"] > 0


def test_palette_encode_decode_equal_the_single_file_api(src, images, tmp_path):
    rgb = {k: v for k, v in images.items() if v.ndim == 3 and v.shape[2] == 3}
    batch.run("palette", [src], tmp_path / "pal", workers=2, colors=8, dither="bayer4", format="gif", quiet=True)
    for rel, img in rgb.items():
        q = qfast.quantize_colors(img, 8, dither="bayer4")
        with Image.open((tmp_path / "pal" / rel).with_suffix(".gif")) as im:
            assert im.mode == "P"
            got = np.asarray(im.convert("RGB"))
        np.testing.assert_array_equal(got, q.image(), err_msg=rel)
    batch.run("encode", [src], tmp_path / "qfz", workers=2, max_error=3, no_corrector=True, quiet=True)
    for rel, img in images.items():
        data = (tmp_path / "qfz" / rel).with_suffix(".qfz").read_bytes()
        assert data == qfast.encode(img, max_error=3, corrector=None), rel
    rep = batch.run("decode", [tmp_path / "qfz"], tmp_path / "dec", workers=2, no_correct=True, quiet=True)
    assert rep.ok == len(images)
    for rel, img in images.items():
        want = qfast.decode(qfast.encode(img, max_error=3, corrector=None), correct=False)
        np.testing.assert_array_equal(read(tmp_path / "dec" / rel), want)


def test_shared_palette_equals_the_palette_of_the_list(src, images, tmp_path):
    out = tmp_path / "out"
    report = batch.run("palette", [src], out, workers=2, shared=24, quiet=True)
    want = qfast.kmeans_palette([np.dstack([v] * 3) if v.ndim == 2 else v[..., :3] for v in images.values()], 24)
    np.testing.assert_array_equal(report.palette, want)
    for rel, img in images.items():
        with Image.open(out / rel) as im:
            idx = np.asarray(im)
            np.testing.assert_array_equal(np.asarray(im.getpalette()[: 3 * len(want)]).reshape(-1, 3), want)
        np.testing.assert_array_equal(idx, qfast.remap(img, want), err_msg=rel)
    pal, bad = batch.shared_palette([src], 24, workers=2)
    np.testing.assert_array_equal(pal, want)
    assert bad == []
    hist, bad = batch.histogram([src], workers=2)
    assert hist == qfast.ColorHistogram.from_images(images.values()) and bad == []


def test_histogram_and_shared_palette_bad_input(src, tmp_path):
    (src / "broken.png").write_bytes(b"broken")
    hist, bad = batch.histogram([src], workers=0)
    assert [Path(p).name for p, _ in bad] == ["broken.png"] and "not an image qfast can read" in bad[0][1]
    assert hist.total > 0
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "x.png").write_bytes(b"broken")
    with pytest.raises(batch.BatchError, match="no readable image"):
        batch.shared_palette([only_bad], 8, workers=0)
    with pytest.raises(batch.BatchError, match="no such file"):
        batch.histogram([tmp_path / "missing"])
    with pytest.raises(ValueError, match="k"):
        batch.shared_palette([src], 70000, workers=0)  # k above 65536


def test_resumes_skips_up_to_date_and_force_redoes(src, images, tmp_path):
    out = tmp_path / "out"
    # A first, partial run (as if interrupted): only the top folder's files.
    first = batch.run("quantize", [str(src / "*.png")], out, workers=1, bits=2, quiet=True)
    assert first.ok == 4
    second = batch.run("quantize", [src], out, workers=2, bits=2, quiet=True)
    assert (second.skipped, second.ok) == (4, len(images) - 4)
    third = batch.run("quantize", [src], out, workers=2, bits=2, quiet=True)
    assert third.skipped == len(images)
    # An input newer than its output is redone.
    t = (out / "hats.png").stat().st_mtime_ns
    os.utime(src / "hats.png", ns=(t + 10**9, t + 10**9))
    fourth = batch.run("quantize", [src], out, workers=2, bits=2, quiet=True)
    assert (fourth.ok, fourth.skipped) == (1, len(images) - 1)
    assert batch.run("quantize", [src], out, workers=2, bits=2, force=True, quiet=True).ok == len(images)
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]


def test_bad_files_are_recorded_and_the_rest_goes_on(src, images, tmp_path):
    good = (src / "hats.png").read_bytes()
    (src / "deep" / "truncated.png").write_bytes(good[: len(good) // 2])
    (src / "not-an-image.png").write_bytes(b"hello")
    (src / "notes.txt").write_text("not taken from a folder walk")
    out = tmp_path / "out"
    report = batch.run("quantize", [src, src / "notes.txt"], out, workers=2, bits=4, manifest="csv", quiet=True)
    assert report.failed == 3 and report.ok == len(images) and report.exit_code == 1
    with open(out / "qfast-batch.csv", newline="") as f:
        rows = {Path(r["input"]).name: r for r in csv.DictReader(f)}
    assert set(rows) >= {"truncated.png", "not-an-image.png", "notes.txt", "hats.png"}
    for name in ("truncated.png", "not-an-image.png", "notes.txt"):
        error = rows[name]["error"]
        assert rows[name]["status"] == "failed" and ("cannot read image" in error or "not an image" in error), error
    assert rows["hats.png"]["status"] == "ok" and float(rows["hats.png"]["psnr"]) > 20
    assert not (out / "deep" / "truncated.png").exists() and not (out / "not-an-image.png").exists()
    assert "FAILED" in report.summary() and "truncated.png" in report.summary()


def test_refuses_two_inputs_with_one_output_before_any_work(src, tmp_path):
    Image.open(src / "hats.png").convert("RGB").save(src / "hats.jpg")
    out = tmp_path / "out"
    with pytest.raises(batch.BatchError, match=r"hats\.(jpg|png) and .*hats\.(jpg|png) would both write"):
        batch.run("quantize", [src], out, bits=3, quiet=True)
    assert not out.exists()


def test_an_outdir_inside_the_source_is_never_read(src, images):
    out = src / "converted"
    a = batch.run("quantize", [src], out, workers=2, bits=3, quiet=True)
    b = batch.run("quantize", [src], out, workers=2, bits=3, quiet=True)
    assert a.ok == len(images) and b.skipped == len(images) and b.total == len(images)
    assert not (out / "converted").exists()


def test_bad_batches_fail_before_any_work(src, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(batch.BatchError, match="no such file or folder"):
        batch.run("quantize", [tmp_path / "missing"], out, bits=3)
    with pytest.raises(batch.BatchError, match="no file matches"):
        batch.run("quantize", [str(tmp_path / "*.nothing")], out, bits=3)
    with pytest.raises(batch.BatchError, match="no input files"):
        batch.run("decode", [src], out)
    with pytest.raises(batch.BatchError, match="bits"):
        batch.run("quantize", [src], out, bits=9)
    with pytest.raises(batch.BatchError, match="unknown option"):
        batch.run("quantize", [src], out, bits=3, colours=4)
    with pytest.raises(batch.BatchError, match="command"):
        batch.run("compress", [src], out)
    with pytest.raises(batch.BatchError, match="format"):
        batch.run("encode", [src], out, max_error=1, format="png")
    with pytest.raises(batch.BatchError, match="workers"):
        batch.run("quantize", [src], out, bits=3, workers=-1)
    with pytest.raises(batch.BatchError, match="shared"):
        batch.run("quantize", [src], out, bits=3, shared=4)
    with pytest.raises(batch.BatchError, match="shared"):
        batch.run("palette", [src], out, shared=0)
    with pytest.raises(batch.BatchError, match="manifest"):
        batch.run("quantize", [src], out, bits=3, manifest="xml")
    assert not out.exists()


def test_a_full_disk_fails_the_file_and_leaves_no_partial_output(src, tmp_path, monkeypatch):
    import qfast._io as qio

    real = qio.os.fdopen

    class Full(io.RawIOBase):
        def __init__(self, fd, mode):
            self.f = real(fd, mode)

        def write(self, b):
            self.f.write(bytes(b)[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self.f.close()

    monkeypatch.setattr(qio.os, "fdopen", lambda fd, mode: Full(fd, mode))
    out = tmp_path / "out"
    report = batch.run("quantize", [src / "hats.png", src / "grey.png"], out, workers=0, bits=3, quiet=True)
    assert report.failed == 2
    assert all("No space left" in r.error for r in report.failures)
    assert [p.name for p in out.iterdir()] == ["qfast-batch.jsonl"]


def test_iter_results_yields_as_they_finish(src, images, tmp_path):
    results = list(batch.iter_results("quantize", [src], tmp_path / "o", workers=2, levels=5))
    assert sorted(Path(r.input).relative_to(src).as_posix() for r in results) == sorted(images)
    assert all(isinstance(r, batch.FileResult) and r.status == "ok" for r in results)
    again = list(batch.iter_results("quantize", [src], tmp_path / "o", workers=2, levels=5))
    assert {r.status for r in again} == {"skipped"}


def _die_on_three(x: int) -> int:
    if x == 3:
        os._exit(1)
    return 2 * x


def _raises_on_three(x: int) -> int:
    if x == 3:
        raise RuntimeError("three")
    return 2 * x


def test_a_raising_task_costs_only_its_item():
    got = dict(batch.LocalEngine(2).map_unordered(_raises_on_three, range(6)))
    assert isinstance(got[3], batch.Lost) and "RuntimeError: three" in got.pop(3).message
    assert got == {x: 2 * x for x in range(6) if x != 3}


def test_a_dying_worker_costs_only_its_item():
    got = dict(batch.LocalEngine(2).map_unordered(_die_on_three, range(8)))
    assert isinstance(got.pop(3), batch.Lost)
    assert got == {x: 2 * x for x in range(8) if x != 3}


class _RefusingPool:
    """A process pool that refuses its third submission as a pool does whose worker has just died (the death shows
    at the next submit, before any result says so)."""

    def __init__(self, pool, calls: list) -> None:
        self.pool, self.calls = pool, calls

    def submit(self, *args):
        from concurrent.futures.process import BrokenProcessPool

        self.calls.append(1)
        if len(self.calls) == 3:
            raise BrokenProcessPool("a child process terminated abruptly")
        return self.pool.submit(*args)

    def shutdown(self, **kw) -> None:
        self.pool.shutdown(**kw)


def test_a_pool_that_breaks_between_submissions_loses_nothing():
    calls: list = []

    class Engine(batch.LocalEngine):
        def _pool(self):
            return _RefusingPool(super()._pool(), calls)

    got = dict(Engine(2).map_unordered(_raises_on_three, range(12)))
    assert len(calls) > 3  # the refused chunk was submitted again, to a new pool
    assert isinstance(got.pop(3), batch.Lost)
    assert got == {x: 2 * x for x in range(12) if x != 3}


def test_several_items_a_task_and_a_dying_worker_still_costs_only_its_item():
    # 40 items on 2 workers: 4 a task, so the worker that dies on 3 takes three other items down with it, which the
    # engine must run again; and a raising item inside a task fails alone.
    eng = batch.LocalEngine(2, files_per_task=4)
    got = dict(eng.map_unordered(_die_on_three, range(40)))
    assert isinstance(got.pop(3), batch.Lost)
    assert got == {x: 2 * x for x in range(40) if x != 3}
    got = dict(eng.map_unordered(_raises_on_three, range(40)))
    assert isinstance(got.pop(3), batch.Lost)
    assert got == {x: 2 * x for x in range(40) if x != 3}
    with pytest.raises(batch.BatchError, match="files_per_task"):
        batch.LocalEngine(2, files_per_task=0)


def test_plain_progress_lines_without_a_terminal():
    stream = io.StringIO()
    p = batch._Progress(3, quiet=False, desc="qfast batch quantize", stream=stream, every=0)
    for s in ("ok", "failed", "ok"):
        p.update(batch.FileResult("a", "b", s))
    p.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "3/3 files, 1 failed" in lines[-1] and "files/s" in lines[-1]
    quiet = io.StringIO()
    q = batch._Progress(3, quiet=True, desc="x", stream=quiet, every=0)
    q.update(batch.FileResult("a", "b", "ok"))
    assert quiet.getvalue() == ""


def test_batch_quantize_writes_pngs_at_the_fast_level(src, images, tmp_path):
    # zlib's FLEVEL (RFC 1950) of each output's first IDAT: 1 is the "fast" class holding level 4.
    out = tmp_path / "out"
    batch.run("quantize", [src], out, workers=0, bits=2, quiet=True)
    for rel in images:
        data = (out / rel).read_bytes()
        at = data.index(b"IDAT") + 4
        assert data[at] & 0x0F == 8 and data[at + 1] >> 6 == 1, rel
