"""A Pillow plugin for ``.qfz`` files: ``Image.open``, ``Image.save`` and everything built on them (imageio's Pillow
plugin, thumbnails, ``ImageOps``).

Register it once with :func:`register_pillow` (as pillow-heif's ``register_heif_opener``); ``import qfast`` alone
does not import Pillow. Then::

    from PIL import Image
    qfast.register_pillow()
    Image.open("photo.qfz")                      # reads and checks the file; decodes on load()
    img.save("photo.qfz", max_error=2)           # or levels=16, target_bpp=2.5, subsample=True; lossless by default

``Image.open`` reads and checks the header only (its CRC and every field), so a file with a damaged or hostile header
fails there, as ``PIL.UnidentifiedImageError`` (an ``OSError``) with qfast's message; the size is then checked
against ``Image.MAX_IMAGE_PIXELS`` by Pillow as for any format (a warning above it, ``DecompressionBombError`` above
twice it). The payload is read and decoded on ``load()``, through the corrector the file names (as
:func:`qfast.decode`): a damaged payload is an ``OSError`` there, and the decoder refuses more than twice the limit.
"""

from __future__ import annotations

from typing import IO, Any

import numpy as np

#: Pillow's name of the format, and its extension and MIME type.
FORMAT = "QFZ"
EXTENSION = ".qfz"
MIME = "image/x-qfz"

#: The options ``Image.save(..., format="QFZ")`` takes: those of :func:`qfast.encode`.
SAVE_OPTIONS = ("max_error", "levels", "target_bpp", "color", "subsample", "effort", "corrector")

_MAGIC = b"\x89QFZ"
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_registered = False


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == _MAGIC


def _max_pixels() -> int:
    """The decoder's pixel limit under Pillow's: twice ``Image.MAX_IMAGE_PIXELS`` (Pillow's error threshold)."""
    from PIL import Image

    from ._validate import INT_MAX

    return INT_MAX if Image.MAX_IMAGE_PIXELS is None else 2 * int(Image.MAX_IMAGE_PIXELS)


def _image_file_class() -> type:
    from PIL import ImageFile, UnidentifiedImageError

    from . import _core, codec
    from ._validate import INT_MAX

    class QfzImageFile(ImageFile.ImageFile):
        """A ``.qfz`` file opened by Pillow: header read at open, pixels decoded on ``load()``."""

        format = FORMAT
        format_description = "qfast .qfz (bounded-error or levels codec)"

        def _open(self) -> None:
            assert self.fp is not None
            # The header only: its first 8 bytes give its length; the payload is read by load().
            head = self.fp.read(8)
            head += self.fp.read(max(0, int.from_bytes(head[6:8], "little") - len(head))) if len(head) == 8 else b""
            try:
                # Any size here: Pillow checks it against MAX_IMAGE_PIXELS next (DecompressionBombError), and the
                # decoder refuses more than twice that.
                header = _core.inspect_header(head, INT_MAX)
            except codec.FormatError as e:
                raise UnidentifiedImageError(f"{self.filename or 'file'}: not a valid .qfz file: {e}") from None
            self._size = (header["width"], header["height"])
            self._mode = _MODES[header["channels"]]
            self.info.update(
                qfz_mode=header["mode"],
                levels=tuple(header["levels"]),
                max_error=tuple(header["max_error"]),
                color=header["color"],
                subsampling=header["subsampling"],
                coder=header["coder"],
                corrector=header["corrector"],
            )
            self.tile = []  # decoded by load(), not by a Pillow decoder

        def load(self) -> Any:
            if self._im is None:
                assert self.fp is not None
                self.fp.seek(0)
                data = self.fp.read()  # the whole file: decode checks the payload's length and CRC too
                try:
                    pixels = codec.decode(data, max_pixels=_max_pixels())
                except codec.FormatError as e:
                    raise OSError(f"{self.filename or 'file'}: {e}") from None
                self.load_prepare()
                self.frombytes(np.ascontiguousarray(pixels).tobytes())
            return super().load()

    return QfzImageFile


def _save(im: Any, fp: IO[bytes], filename: str | bytes) -> None:
    from . import codec

    options = dict(getattr(im, "encoderinfo", {}) or {})
    unknown = sorted(set(options) - set(SAVE_OPTIONS))
    if unknown:
        raise ValueError(f"{unknown[0]}: not an option of the QFZ format; expected one of {', '.join(SAVE_OPTIONS)}")
    if not any(options.get(k) is not None for k in ("max_error", "levels", "target_bpp")):
        options["max_error"] = 0  # like PNG: lossless unless asked otherwise
    if im.mode in ("PA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
    elif im.mode in ("1", "P"):
        im = im.convert("L" if im.mode == "1" else "RGB")
    if im.mode not in ("L", "RGB", "RGBA"):
        raise ValueError(f"image: QFZ holds L, RGB and RGBA images (and 1, P, LA, PA converted), got mode {im.mode!r}")
    fp.write(codec.encode(np.asarray(im), **options))


def register_pillow() -> None:
    """Teaches Pillow (and so imageio's Pillow plugin) to open and save ``.qfz`` files; calling it again is harmless.

    Example:
        >>> qfast.register_pillow()
        >>> from PIL import Image
        >>> ".qfz" in Image.registered_extensions()
        True
    """
    global _registered
    if _registered:
        return
    from PIL import Image

    cls = _image_file_class()
    Image.register_open(FORMAT, cls, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, EXTENSION)
    Image.register_mime(FORMAT, MIME)
    _registered = True
