"""The QAC2 and QAC3 coders (coder 3, format version 3, ``effort=3``; coder 4, format version 5, ``effort=4``): exact
lossless round trips, the bound in bounded mode, the same bytes for any thread count, hostile files as FormatError,
and every older golden file decoding as before."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qfz_bytes import reseal as _reseal

import qfast
from qfast import _core

EXPECTED = Path(__file__).resolve().parents[1] / "expected"


def _synthetic(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 5 + y * 3 + (x * y) // 7) % 256
    chans = [(base + 50 * k + rng.integers(-5, 6, (h, w))) % 256 for k in range(c)]
    img = np.stack(chans, axis=-1).astype(np.uint8)
    return img[..., 0] if c == 1 else img


def _photo() -> np.ndarray:
    # The bundled parrots are Kodak 23 byte for byte: the tests need nothing beside the checkout.
    return np.array(qfast.samples.load("parrots")[150:310, 200:456])


IMAGES = {
    "grey": _synthetic(33, 47, 1),
    "rgb": _synthetic(40, 31, 3, 1),
    "rgba": _synthetic(17, 29, 4, 2),
    "pixel": _synthetic(1, 1, 3, 3),
    "row": _synthetic(1, 50, 3, 4),
    "column": _synthetic(50, 1, 3, 5),
    "noise": np.random.default_rng(6).integers(0, 256, (23, 19, 3), dtype=np.uint8),
    "flat": np.full((16, 16, 3), 200, np.uint8),
    "parrots": qfast.samples.load("parrots")[100:228, 200:392],
}


def _qac2(img: np.ndarray, d: int = 0, color: str = "ycocg", coder: str = "qac2") -> bytes:
    """A QAC2 (or QAC3) file without the encoder's colour-transform trial (efforts 3 and 4 may pick RGB)."""
    c = 1 if img.ndim == 2 else img.shape[2]
    img = np.ascontiguousarray(img)
    return _core.encode(img, "bounded", [d] * c, color if c > 1 else "none", False, coder, 9, b"", None)


VERSION = {"qac2": 3, "qac3": 5}
CODERS = sorted(VERSION)
EFFORT = {"qac2": 3, "qac3": 4}


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("name", sorted(IMAGES))
def test_lossless_round_trip_is_exact(name: str, coder: str) -> None:
    img = IMAGES[name]
    for data in (_qac2(img, coder=coder), _qac2(img, color="none", coder=coder)):
        info = qfast.inspect(data)
        assert (info["coder"], info["version"]) == (coder, VERSION[coder])
        np.testing.assert_array_equal(qfast.decode(data), img)
    data = qfast.encode(img, max_error=0, effort=EFFORT[coder])
    assert (qfast.inspect(data)["coder"], qfast.inspect(data)["version"]) == (coder, VERSION[coder])
    np.testing.assert_array_equal(qfast.decode(data), img)


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("d", [1, 2, 3, 4, 8, 17, 32])
def test_bounded_mode_keeps_the_bound(d: int, coder: str) -> None:
    for name in ("rgb", "rgba", "grey", "parrots", "noise"):
        img = IMAGES[name]
        for data in (_qac2(img, d, coder=coder), qfast.encode(img, max_error=d, effort=EFFORT[coder], corrector=None)):
            out = qfast.decode(data, correct=False)
            assert out.shape == img.shape
            assert int(np.abs(out.astype(int) - img).max()) <= d, (name, d)
    # Per-channel bounds, with the corrector's uniform bins too.
    img = IMAGES["parrots"]
    for corrector in (None, "00112233445566ff"):
        data = qfast.encode(img, max_error=[0, 2, 5], effort=EFFORT[coder], corrector=corrector)
        err = np.abs(qfast.decode(data, correct=False).astype(int) - img).max(axis=(0, 1))
        assert list(err) <= [0, 2, 5] and all(e <= b for e, b in zip(err, [0, 2, 5]))


def test_levels_mode_decodes_to_the_same_pixels_as_qac() -> None:
    img = IMAGES["parrots"]
    for opts in ({"levels": 12}, {"levels": 32, "subsample": True}, {"levels": [8, 16, 4]}):
        a = qfast.decode(qfast.encode(img, **opts, corrector=None), correct=False)
        for effort in (3, 4):
            b = qfast.decode(qfast.encode(img, **opts, effort=effort, corrector=None), correct=False)
            np.testing.assert_array_equal(a, b)


def test_smaller_than_qac_on_a_photo() -> None:
    img = _photo()
    for d in (0, 1, 2, 4, 8):
        old = _core.encode(np.ascontiguousarray(img), "bounded", [d] * 3, "ycocg", False, "qac", 9, b"", None)
        new = _qac2(img, d)
        assert len(new) < 0.97 * len(old), (d, len(new), len(old))
        qac3 = _qac2(img, d, coder="qac3")
        assert len(qac3) < 0.99 * len(new), (d, len(qac3), len(new))


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize("rows", [512, 60])
def test_the_encoder_keeps_the_smaller_colour_transform(coder: str, rows: int) -> None:
    """Efforts 3 and 4 code with YCoCg-R or without a colour transform, whichever gives the smaller file: judged on
    a sample of the rows for a tall image (512 rows), on the whole image for a short one (60)."""
    p = np.array(qfast.samples.load("parrots"))[:rows, :256]
    # The photo's channels share their edges (YCoCg-R wins); moved apart (flipped), they share nothing (RGB wins).
    apart = np.dstack([p[..., 0], p[::-1, :, 1], p[:, ::-1, 2]])
    for img, want in ((p, "ycocg"), (apart, "none")):
        sizes = {col: len(_qac2(img, 0, col, coder)) for col in ("ycocg", "none")}
        assert min(sizes, key=sizes.__getitem__) == want  # the premise: the two pictures prefer different transforms
        data = qfast.encode(img, max_error=0, effort=EFFORT[coder], corrector=None)
        assert data == _qac2(img, 0, want, coder)
        np.testing.assert_array_equal(qfast.decode(data), img)


_CHILD = """
import sys, numpy as np, qfast
from qfast import _core
img = np.ascontiguousarray(np.load(sys.argv[1]))
out = []
for coder, d in [(c, d) for c in ("qac2", "qac3") for d in (0, 2)]:
    data = _core.encode(img, "bounded", [d] * 3, "ycocg", False, coder, 9, b"", None)
    out.append(data)
    out.append(qfast.decode(data, correct=False).tobytes())
sys.stdout.buffer.write(b"".join(out))
"""


def test_the_same_bytes_for_any_thread_count(tmp_path: Path) -> None:
    """Encoding and decoding run one thread per plane: one thread, one core, or the default give the same bytes."""
    img = _photo()
    path = tmp_path / "img.npy"
    np.save(path, img)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = []
    for extra in ({"RAYON_NUM_THREADS": "1"}, {}):
        cmd = [sys.executable, "-c", _CHILD, str(path)]
        if extra and sys.platform.startswith("linux") and hasattr(os, "sched_setaffinity"):
            cmd = ["taskset", "-c", "0", *cmd] if _has("taskset") else cmd
        runs.append(subprocess.run(cmd, env={**env, **extra}, capture_output=True, check=True).stdout)
    here = b"".join(
        part
        for coder in ("qac2", "qac3")
        for d in (0, 2)
        for data in [_qac2(img, d, coder=coder)]
        for part in (data, qfast.decode(data, correct=False).tobytes())
    )
    assert runs[0] == runs[1] == here


def _has(tool: str) -> bool:
    from shutil import which

    return which(tool) is not None


@pytest.mark.parametrize("coder", CODERS)
def test_every_truncation_is_a_format_error(coder: str) -> None:
    data = _qac2(IMAGES["row"], 1, coder=coder)
    for n in range(len(data)):
        with pytest.raises(qfast.FormatError):
            qfast.decode(data[:n])
    # Inside the payload with the CRCs made to match: the coder itself must notice.
    data = _qac2(IMAGES["rgb"], 0, coder=coder)
    hl = struct.unpack_from("<H", data, 6)[0]
    for cut in range(hl + 12, len(data) - 4, 7):
        head = bytearray(data[:hl])
        struct.pack_into("<Q", head, hl - 12, cut - hl)
        with pytest.raises(qfast.FormatError):
            qfast.decode(_reseal(bytes(head) + data[hl:cut] + b"\0\0\0\0"))


@pytest.mark.parametrize("coder", CODERS)
def test_bit_flips_are_format_errors_or_in_range(coder: str) -> None:
    img = IMAGES["rgba"]
    data = _qac2(img, 2, coder=coder)
    rng = np.random.default_rng(1)
    hl = struct.unpack_from("<H", data, 6)[0]
    for _ in range(400):
        b = bytearray(data)
        i = int(rng.integers(hl, len(b) - 4))
        b[i] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(qfast.FormatError):
            qfast.decode(bytes(b))  # the payload CRC
        try:
            out = qfast.decode(_reseal(bytes(b)), correct=False)
        except qfast.FormatError:
            continue
        assert out.shape == img.shape and out.dtype == np.uint8


@pytest.mark.parametrize("coder", CODERS)
def test_a_huge_claimed_size_allocates_nothing_big(coder: str) -> None:
    """The header's size bounds the decoder's memory; a tiny payload claiming 2^28 pixels fails fast."""
    data = bytearray(_qac2(IMAGES["rgb"], 0, coder=coder))
    struct.pack_into("<II", data, 8, 1 << 14, 1 << 14)
    with pytest.raises(qfast.FormatError):
        qfast.decode(_reseal(bytes(data)))


def test_old_readers_are_told_the_version() -> None:
    data = _qac2(IMAGES["rgb"], 0)
    assert struct.unpack_from("<H", data, 4)[0] == 3 and data[21] == 3
    with pytest.raises(qfast.FormatError, match="QAC2 coder is only valid from version 3"):
        qfast.decode(_reseal(data[:4] + struct.pack("<H", 2) + data[6:]))
    data = _qac2(IMAGES["rgb"], 0, coder="qac3")
    assert struct.unpack_from("<H", data, 4)[0] == 5 and data[21] == 4
    with pytest.raises(qfast.FormatError, match="QAC3 coder is only valid from version 5"):
        qfast.decode(_reseal(data[:4] + struct.pack("<H", 4) + data[6:]))


@pytest.mark.parametrize("path", sorted(EXPECTED.glob("codec-*.qfz")), ids=lambda p: p.stem)
def test_every_golden_file_decodes_as_before(path: Path) -> None:
    """Files written before QAC2 (and QAC2's own) decode to their pinned pixels, bit for bit."""
    np.testing.assert_array_equal(qfast.decode(path.read_bytes(), correct=False), np.load(path.with_suffix(".npy")))


GOLDEN = {
    "qac2-lossless-rgb": (lambda: IMAGES["parrots"][:24, :32], 0),
    "qac2-bounded2-rgba": (lambda: IMAGES["rgba"], 2),
    "qac2-bounded1-grey": (lambda: IMAGES["grey"], 1),
    "qac3-lossless-rgb": (lambda: IMAGES["parrots"][:24, :32], 0),
    "qac3-bounded2-rgba": (lambda: IMAGES["rgba"], 2),
    "qac3-bounded1-grey": (lambda: IMAGES["grey"], 1),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_qac2_golden_files(name: str) -> None:
    """QAC2's and QAC3's bytes are pinned: a change to a model shows here (GENERATE_EXPECTED=1 writes them)."""
    make, d = GOLDEN[name]
    img = make()
    data = _qac2(img, d, coder=name.split("-")[0])
    path = EXPECTED / f"codec-{name}.qfz"
    if os.environ.get("GENERATE_EXPECTED"):
        path.write_bytes(data)
        np.save(path.with_suffix(".npy"), qfast.decode(data, correct=False))
    assert data == path.read_bytes(), f"{name}: the encoder's output changed (GENERATE_EXPECTED=1 to accept)"
    np.testing.assert_array_equal(qfast.decode(data, correct=False), np.load(path.with_suffix(".npy")))
