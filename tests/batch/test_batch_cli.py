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


def test_batch_quality_below_the_minimum_fails_that_file(src, tmp_path):
    out = tmp_path / "out"
    (src / "flat.png").unlink(missing_ok=True)
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(src / "noise.png")
    assert main(["batch", "palette", str(src), "-o", str(out), "--workers", "0", "-q", "--quality", "99-100"]) == 1
    recs = {Path(r["input"]).name: r for r in map(json.loads, (out / "qfast-batch.jsonl").read_text().splitlines())}
    assert recs["noise.png"]["status"] == "failed" and "quality" in recs["noise.png"]["error"]
    assert not (out / "noise.png").exists()
