"""``.qfz`` through Pillow and imageio, as their users call them, against qfast's own encode/decode."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps, UnidentifiedImageError

import qfast

qfast.register_pillow()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(qfast.samples.load()[:128, :160])


def _resize_header(data: bytes, width: int, height: int) -> bytes:
    """The same file with another declared size and a recomputed header CRC (docs/FORMAT.md's layout)."""
    header_len = struct.unpack_from("<H", data, 6)[0]
    head = bytearray(data[:header_len])
    struct.pack_into("<II", head, 8, width, height)
    struct.pack_into("<I", head, header_len - 4, zlib.crc32(bytes(head[: header_len - 4])))
    return bytes(head) + data[header_len:]


def test_registration_is_idempotent_and_complete() -> None:
    qfast.register_pillow()
    assert Image.registered_extensions()[".qfz"] == "QFZ"
    assert Image.MIME["QFZ"] == "image/x-qfz"
    assert "QFZ" in Image.SAVE and "QFZ" in Image.OPEN


def test_open_reads_the_header_and_load_decodes(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "p.qfz"
    qfast.save(path, photo, max_error=2)
    with Image.open(path) as im:
        assert (im.format, im.size, im.mode) == ("QFZ", (160, 128), "RGB")
        assert im.info["qfz_mode"] == "bounded" and im.info["max_error"] == (2, 2, 2)
        assert im._im is None  # nothing decoded yet
        got = np.asarray(im)
    assert np.array_equal(got, qfast.load(path))
    assert np.abs(got.astype(int) - photo).max() <= 2


@pytest.mark.parametrize(("mode", "channels"), [("L", 1), ("RGB", 3), ("RGBA", 4)])
def test_save_is_lossless_by_default_in_every_mode(tmp_path: Path, photo: np.ndarray, mode: str, channels: int) -> None:
    arr = {1: photo[..., 0], 3: photo, 4: np.dstack([photo, photo[..., 1]])}[channels]
    path = tmp_path / f"x-{mode}.qfz"
    Image.fromarray(arr).save(path)
    assert qfast.inspect(path)["max_error"] == [0] * channels
    with Image.open(path) as im:
        assert im.mode == mode and np.array_equal(np.asarray(im), arr)


def test_save_options_are_qfasts(tmp_path: Path, photo: np.ndarray) -> None:
    im = Image.fromarray(photo)
    for opts in (
        {"max_error": 3},
        {"levels": 16},
        {"target_bpp": 2.5, "subsample": True},
        {"max_error": 1, "effort": 1},
    ):
        buf = io.BytesIO()
        im.save(buf, format="QFZ", **opts)
        want = qfast.encode(photo, **opts)
        assert buf.getvalue() == want, opts


def test_palette_and_one_bit_images_are_converted(tmp_path: Path, photo: np.ndarray) -> None:
    p = Image.fromarray(photo).quantize(16)
    p.save(tmp_path / "p.qfz")
    assert np.array_equal(qfast.load(tmp_path / "p.qfz"), np.asarray(p.convert("RGB")))
    bw = Image.fromarray(photo[..., 0] > 128)
    bw.save(tmp_path / "bw.qfz")
    assert np.array_equal(qfast.load(tmp_path / "bw.qfz"), np.asarray(bw.convert("L")))


def test_pillow_tools_just_work(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "p.qfz"
    qfast.save(path, photo, max_error=0)
    with Image.open(path) as im:
        thumb = im.copy()
        thumb.thumbnail((40, 40))
        assert thumb.size == (40, 32)
        assert ImageOps.mirror(im).getpixel((0, 0)) == tuple(photo[0, -1])
        assert np.array_equal(np.asarray(im.convert("L")), np.asarray(Image.fromarray(photo).convert("L")))
    with Image.open(io.BytesIO(path.read_bytes())) as im:  # a file object, not a name
        assert np.array_equal(np.asarray(im), photo)


def test_imageio_reads_qfz_through_its_pillow_plugin(tmp_path: Path, photo: np.ndarray) -> None:
    iio = pytest.importorskip("imageio.v3")
    path = tmp_path / "p.qfz"
    qfast.save(path, photo, max_error=1)
    assert np.array_equal(iio.imread(path), qfast.load(path))
    out = tmp_path / "w.qfz"
    iio.imwrite(out, photo, extension=".qfz", max_error=0)
    assert np.array_equal(qfast.load(out), photo)


def test_hostile_files_are_pillow_errors_with_qfasts_message(tmp_path: Path, photo: np.ndarray) -> None:
    good = qfast.encode(photo, max_error=0, corrector=None)
    header = {  # a damaged header: refused by Image.open
        "version": good[:4] + b"\x09\x00" + good[6:],
        "header-crc": good[:20] + bytes([good[20] ^ 1]) + good[21:],
        "cut-in-the-header": good[:40],
    }
    for name, data in header.items():
        with pytest.raises(UnidentifiedImageError, match=r"not a valid \.qfz file: .*(version|CRC|truncated|ends)"):
            Image.open(io.BytesIO(data))
        path = tmp_path / f"{name}.qfz"
        path.write_bytes(data)
        with pytest.raises(OSError, match=str(path.name)):
            Image.open(path)
    payload = {"payload-crc": good[:-1] + bytes([good[-1] ^ 1]), "truncated": good[:-10]}  # refused by load()
    for name, data in payload.items():
        path = tmp_path / f"{name}.qfz"
        path.write_bytes(data)
        with Image.open(path) as im, pytest.raises(OSError, match=rf"{name}\.qfz: .*(CRC|truncated|ends)"):
            im.load()


class _Counting(io.BytesIO):
    """A file object that counts the bytes read from it."""

    read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        data = super().read(n)
        self.read_bytes += len(data)
        return data


def test_open_reads_only_the_header(photo: np.ndarray) -> None:
    data = qfast.encode(photo, max_error=0, corrector=None)
    f = _Counting(data)
    with Image.open(f) as im:
        header_bytes = qfast.inspect(data)["header_bytes"]
        assert im.size == (160, 128) and f.read_bytes <= header_bytes + 16  # and Pillow's own 16-byte sniff
        assert f.read_bytes < len(data) / 4
        im.load()
        assert np.array_equal(np.asarray(im), photo)


def test_declared_size_honours_max_image_pixels(monkeypatch: pytest.MonkeyPatch, photo: np.ndarray) -> None:
    data = qfast.encode(photo, max_error=0, corrector=None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(_resize_header(data, 40, 40))).close()  # 1600 pixels: above the limit, below twice
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(_resize_header(data, 50, 50)))  # 2500 pixels: over twice the limit
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with Image.open(io.BytesIO(data)) as im:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
        with pytest.raises(OSError, match="pixel"):
            im.load()  # 20480 pixels, over twice the limit now: the decoder itself refuses


def test_unknown_save_option_is_an_error_and_writes_nothing(tmp_path: Path, photo: np.ndarray) -> None:
    path = tmp_path / "x.qfz"
    with pytest.raises(ValueError, match="^quality: not an option of the QFZ format"):
        Image.fromarray(photo).save(path, quality=90)
    assert not path.exists()
    with pytest.raises(ValueError, match="^image: QFZ holds"):
        Image.fromarray(photo.astype(np.float32)[..., 0]).save(tmp_path / "f.qfz")
