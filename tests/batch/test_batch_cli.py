"""``qfast batch``: exit status, progress and summary, a run killed or interrupted midway and resumed, a dead
scheduler address."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import batch_images
import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


@pytest.fixture
def images() -> dict:
    return batch_images.crops()


@pytest.fixture
def src(tmp_path, images):
    """A folder of the crops, in subfolders."""
    return batch_images.write_folder(tmp_path / "src", images)


def qfast_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "qfast", *args]


def test_in_process_exit_status_and_summary(src, images, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", "quantize", str(src), "-o", str(out), "--bits", "3", "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert "qfast batch quantize" in err and f"ok                    {len(images)}" in err
    np.testing.assert_array_equal(
        np.asarray(Image.open(out / "hats.png")), qfast.quantize_uniform(images["hats.png"], bits=3)
    )
    (src / "broken.png").write_bytes(b"\x89PNG broken")
    assert main(["batch", "quantize", str(src), "-o", str(out), "--bits", "3", "-q"]) == 1
    assert capsys.readouterr().err == ""
    recs = [json.loads(x) for x in (out / "qfast-batch.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in recs) == ["failed"] + ["skipped"] * len(images)


def test_bad_batch_is_a_one_line_error(src, tmp_path, capsys):
    a = src / "hats.png"
    Image.open(a).save(src / "hats.webp")
    assert main(["batch", "quantize", str(src), "-o", str(tmp_path / "o"), "--bits", "3"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("qfast: error:") and "would both write" in err and len(err.splitlines()) == 1
    assert main(["batch", "palette", str(src), "-o", str(tmp_path / "o"), "--colors", "999"]) == 1
    assert "k" in capsys.readouterr().err
    assert main(["batch", "palette", str(src), "-o", str(tmp_path / "o")]) == 1  # no size: --colors, --quality...
    assert "give --colors K" in capsys.readouterr().err


def test_no_terminal_gives_no_bar_and_a_summary(src, tmp_path):
    r = subprocess.run(
        qfast_cmd("batch", "encode", str(src), "-o", str(tmp_path / "q"), "--max-error", "2", "--workers", "2"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "qfast batch encode" in r.stderr and "manifest" in r.stderr
    assert len(list((tmp_path / "q").rglob("*.qfz"))) == 8


@pytest.fixture
def many(tmp_path) -> Path:
    """60 images of 128 x 192: enough work that a run can be stopped midway."""
    root = tmp_path / "many"
    root.mkdir()
    base = qfast.samples.load("parrots")
    for i in range(60):
        y, x = (i * 37) % 380, (i * 53) % 570
        Image.fromarray(np.ascontiguousarray(base[y : y + 128, x : x + 192])).save(root / f"im{i:02d}.png")
    return root


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen, limit: float = 60) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end and proc.poll() is None:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_stopped_run_leaves_no_partial_file_and_resumes(many, tmp_path, sig):
    out = tmp_path / "out"
    args = ("batch", "palette", str(many), "-o", str(out), "--colors", "64", "--workers", "1")
    proc = subprocess.Popen(qfast_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    _wait_for_lines(out / "qfast-batch.jsonl", 3, proc)
    os.killpg(proc.pid, sig)
    proc.communicate(timeout=60)
    if sig == signal.SIGINT and proc.returncode != 0:
        assert proc.returncode == 130
    for _ in range(100):  # the killed group's last worker may still be exiting
        if not any(p.name.endswith(".tmp") for p in out.iterdir()) or sig == signal.SIGKILL:
            break
        time.sleep(0.05)
    done = sorted(p.name for p in out.glob("*.png"))
    # Every output there is whole: it opens and equals the single-file result.
    for name in done:
        img = np.asarray(Image.open(many / name))
        q = qfast.quantize_colors(img, 64)
        np.testing.assert_array_equal(np.asarray(Image.open(out / name).convert("RGB")), q.image(), err_msg=name)
    if sig == signal.SIGINT:
        assert not [p for p in out.iterdir() if p.name.startswith(".")]
    again = subprocess.run(qfast_cmd(*args, "-q"), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    recs = [json.loads(x) for x in (out / "qfast-batch.jsonl").read_text().splitlines()]
    assert sum(r["status"] == "skipped" for r in recs) == len(done)
    assert sum(r["status"] == "ok" for r in recs) == 60 - len(done)
    assert len(list(out.glob("*.png"))) == 60


def test_a_dead_scheduler_is_a_clear_error(src, tmp_path):
    pytest.importorskip("distributed")
    r = subprocess.run(
        qfast_cmd(
            "batch", "quantize", str(src), "-o", str(tmp_path / "o"), "--bits", "2", "--scheduler", "tcp://127.0.0.1:9"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Dask scheduler answers at tcp://127.0.0.1:9" in lines[0], r.stderr


@pytest.mark.parametrize(
    ("command", "opts"),
    [
        ("quantize", ["--bits", "2", "--dither", "bayer4"]),
        ("quantize", ["--levels", "5", "--dither", "floyd-steinberg"]),
        ("palette", ["--quality", "40-60"]),
        ("palette", ["--colors", "32", "--posterize", "3"]),
        ("palette", ["--colors", "12", "--alpha", "keep", "--dither", "atkinson"]),
    ],
)
def test_batch_takes_the_single_file_commands_options(src, tmp_path, command, opts):
    """Every file of the batch is what the single-file command writes with the same options."""
    out = tmp_path / "out"
    assert main(["batch", command, str(src), "-o", str(out), "--workers", "0", "-q", *opts]) == 0
    files = sorted(p for p in src.rglob("*.png"))
    assert files
    for f in files:
        one = tmp_path / "one" / f.relative_to(src)
        one.parent.mkdir(parents=True, exist_ok=True)
        assert main([command, str(f), "-o", str(one), "-q", *opts]) == 0
        got = Image.open(out / f.relative_to(src))
        want = Image.open(one)
        assert got.mode == want.mode
        np.testing.assert_array_equal(np.asarray(got.convert("RGBA")), np.asarray(want.convert("RGBA")))


def test_batch_quantize_correct_runs_the_corrector_on_every_file(tmp_path):
    """``--correct``: every file is the default corrector's output on the public API's mid-bin quantization (an
    independent route: no command line), and better than that quantization."""
    pytest.importorskip("onnxruntime")
    imgs = {k: v for k, v in batch_images.crops().items() if v.ndim == 3 and v.shape[2] == 3}
    src = batch_images.write_folder(tmp_path / "src", imgs)
    out = tmp_path / "out"
    args = ["batch", "quantize", str(src), "-o", str(out), "--workers", "2", "-q", "--bits", "3", "--correct"]
    assert main(args) == 0
    corrector = qfast.Corrector()
    for rel, img in imgs.items():
        mid = qfast.quantize_uniform(img, bits=3)
        got = np.asarray(Image.open(out / rel))
        np.testing.assert_array_equal(got, corrector.correct(mid, 8))
        assert qfast.psnr(img, got) > qfast.psnr(img, mid)


def test_batch_quantize_depth_of_sixteen_bit_files(tmp_path, capsys):
    """16-bit grey files stay 16-bit (the default) or become 8-bit with ``--depth 8``, as the public API writes
    them; 8-bit files beside them stay 8-bit, and ``--correct`` with ``--dither`` is refused."""
    rng = np.random.default_rng(4)
    src = tmp_path / "src"
    src.mkdir()
    deep = (np.cumsum(rng.integers(0, 90, (40, 56)), axis=1) % 65536).astype(np.uint16)
    Image.fromarray(deep).save(src / "deep.png")
    for depth in (16, 8):
        out = tmp_path / f"out{depth}"
        assert main(["batch", "quantize", str(src), "-o", str(out), "-q", "--bits", "4", "--depth", str(depth)]) == 0
        got = np.asarray(Image.open(out / "deep.png"))
        np.testing.assert_array_equal(got, qfast.quantize_uniform(deep, bits=4, depth=depth))
        assert got.dtype == (np.uint16 if depth == 16 else np.uint8)
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))
    Image.fromarray(ramp).save(src / "ramp.png")
    out = tmp_path / "mixed"
    assert main(["batch", "quantize", str(src), "-o", str(out), "-q", "--bits", "4", "--depth", "16"]) == 0
    assert np.asarray(Image.open(out / "deep.png")).dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(Image.open(out / "ramp.png")), qfast.quantize_uniform(ramp, bits=4))
    capsys.readouterr()
    args = ["batch", "quantize", str(src), "-o", str(tmp_path / "x"), "--bits", "3", "--correct", "--dither", "bayer4"]
    assert main(args) == 1
    assert "--correct: only with --method uniform" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_batch_quality_below_the_minimum_fails_that_file(src, tmp_path):
    out = tmp_path / "out"
    (src / "flat.png").unlink(missing_ok=True)
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(src / "noise.png")
    assert main(["batch", "palette", str(src), "-o", str(out), "--workers", "0", "-q", "--quality", "99-100"]) == 1
    recs = {Path(r["input"]).name: r for r in map(json.loads, (out / "qfast-batch.jsonl").read_text().splitlines())}
    assert recs["noise.png"]["status"] == "failed" and "quality" in recs["noise.png"]["error"]
    assert not (out / "noise.png").exists()


@pytest.mark.parametrize("extra", [[], ["--colors", "6"]])
def test_batch_palette_from_maps_every_file_like_the_single_file_command(src, images, tmp_path, extra):
    # An indexed image's own palette, or (with --colors) the k-means colours of any image: one palette for all.
    ref = tmp_path / "ref.png"
    qfast.quantize_colors(images["hats.png"], 5).to_pil().save(ref)
    opts = ["--palette-from", str(ref), *extra, "--dither", "bayer4"]
    out = tmp_path / "out"
    assert main(["batch", "palette", str(src), "-o", str(out), "--workers", "2", "-q", *opts]) == 0
    files = sorted(src.rglob("*.png"))
    for f in files:
        one = tmp_path / "one" / f.relative_to(src)
        one.parent.mkdir(parents=True, exist_ok=True)
        assert main(["palette", str(f), "-o", str(one), "-q", *opts]) == 0
        got, want = Image.open(out / f.relative_to(src)), Image.open(one)
        assert got.mode == want.mode == "P"
        np.testing.assert_array_equal(np.asarray(got.convert("RGBA")), np.asarray(want.convert("RGBA")))
    colours = {
        tuple(c) for f in files for c in np.asarray(Image.open(out / f.relative_to(src)).convert("RGB")).reshape(-1, 3)
    }
    ref_pixels = np.asarray(Image.open(ref).convert("RGB"))
    want_pal = qfast.kmeans_palette(ref_pixels, 6) if extra else qfast.quantize_colors(images["hats.png"], 5).palette
    assert colours <= {tuple(c) for c in want_pal}


def test_batch_palette_from_conflicts_are_one_line_errors(src, tmp_path, capsys):
    ref = tmp_path / "ref.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).convert("P").save(ref)
    for opts in (["--shared", "8"], ["--sweep", "2,4"], ["--quality", "40-60"]):
        assert main(["batch", "palette", str(src), "-o", str(tmp_path / "o"), "--palette-from", str(ref), *opts]) == 1
        assert "--palette-from" in capsys.readouterr().err
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(photo)
    assert main(["batch", "palette", str(src), "-o", str(tmp_path / "o"), "--palette-from", str(photo)]) == 1
    assert "not an indexed image" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_batch_skip_if_larger_writes_only_the_smaller_outputs(tmp_path, capsys):
    # A tiny JPEG of noise: its 256-colour PNG is far larger than it. A smooth picture stored uncompressed: its
    # palette PNG is far smaller.
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(src / "noise.jpg", quality=5)
    ramp = np.broadcast_to(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (64, 96, 3)).copy()
    Image.fromarray(ramp).save(src / "ramp.png", compress_level=0)
    out = tmp_path / "out"
    args = ["batch", "palette", str(src), "-o", str(out), "--colors", "256", "--workers", "0", "--skip-if-larger"]
    assert main(args) == 0
    assert "not written (larger)" in capsys.readouterr().err
    recs = {Path(r["input"]).name: r for r in map(json.loads, (out / "qfast-batch.jsonl").read_text().splitlines())}
    assert recs["noise.jpg"]["status"] == "larger" and not (out / "noise.png").exists()
    assert recs["noise.jpg"]["bytes_out"] > recs["noise.jpg"]["bytes_in"] == (src / "noise.jpg").stat().st_size
    assert recs["ramp.png"]["status"] == "ok" and (out / "ramp.png").stat().st_size < (src / "ramp.png").stat().st_size
    # The single-file command agrees: exit status 98 and nothing written for the first, the same file for the second.
    assert (
        main(
            [
                "palette",
                str(src / "noise.jpg"),
                "-o",
                str(tmp_path / "n.png"),
                "--colors",
                "256",
                "--skip-if-larger",
                "-q",
            ]
        )
        == 98
    )
    assert not (tmp_path / "n.png").exists()
    # Without the option every file is written.
    assert main([*args[:-1], "-q", "--force"]) == 0 and (out / "noise.png").exists()
