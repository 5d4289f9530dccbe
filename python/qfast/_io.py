"""Reading and writing image files for the CLI: Pillow underneath, never overwriting without being asked."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:  # NumPy is imported where it is used: a command that needs none starts without it
    import numpy as np

PathLike = Union[str, "os.PathLike[str]"]


class CliError(Exception):
    """A user-facing error of the command line: printed as one line, exit status 1."""


#: The first bytes of a ``.qfz`` file (docs/FORMAT.md).
QFZ_MAGIC = b"\x89QFZ"


def _reason(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def check_readable(path: PathLike) -> Path:
    """``path`` as a Path if it names a file; CliError "no such file" or "is a folder" otherwise."""
    p = Path(path)
    if p.is_dir():
        raise CliError(f"{p}: is a folder, not a file")
    if not p.is_file():
        raise CliError(f"{p}: no such file")
    return p


#: The path that means standard input (reading) or standard output (writing).
STDIO = "-"


def is_stdio(path: PathLike) -> bool:
    """Whether ``path`` is ``-``: standard input or output."""
    return str(path) == STDIO


def read_file(path: PathLike) -> bytes:
    """A file's bytes (``-``: standard input's); every failure (missing, a folder, permission denied, an I/O error)
    is a one-line CliError."""
    import sys

    if is_stdio(path):
        try:
            return sys.stdin.buffer.read()
        except OSError as e:
            raise CliError(f"standard input: cannot read ({_reason(e)})") from None
    p = check_readable(path)
    try:
        with open(p, "rb") as f:
            return f.read()
    except MemoryError:
        raise CliError(f"{p}: out of memory reading it") from None
    except OSError as e:
        raise CliError(f"{p}: cannot read ({_reason(e)})") from None


def read_image(path: PathLike, allow16: bool = False) -> np.ndarray:
    """Reads an image file (anything Pillow reads, or a ``.qfz`` file, decoded with its corrector) as a uint8 array
    (H, W) or (H, W, C); with ``allow16``, a 16-bit greyscale file as a uint16 (H, W) array. Raises CliError, one
    line naming the file, when it is missing or unreadable, and for 16-bit files it would have to truncate."""
    import io
    import warnings

    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from ._validate import as_image

    p = Path(path) if not is_stdio(path) else Path("standard input")
    data = read_file(path)
    if data[:4] == QFZ_MAGIC:
        from . import codec

        try:
            return codec.decode(data)
        except codec.FormatError as e:
            raise CliError(f"{p}: {e}") from None
        except MemoryError:
            raise CliError(f"{p}: out of memory decoding it") from None
    try:
        with warnings.catch_warnings():
            # Pillow warns above 89 MP (and refuses above 179 MP): the file is the user's own, read it quietly
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                deep = sixteen_bit(im)
                if deep and allow16 and im.mode.startswith("I;16"):  # 16-bit grey: read as it is
                    im.load()
                    return np.ascontiguousarray(np.asarray(im), dtype=np.uint16)
                if deep:
                    raise CliError(
                        f"{p}: a {deep} image; qfast works on 8 bits per channel and will not truncate it silently: "
                        "convert it to 8 bits first"
                    )
                im.load()
                return as_image(im)
    except UnidentifiedImageError:
        raise CliError(f"{p}: not an image qfast can read (PNG, JPEG, WebP, TIFF, BMP, GIF or .qfz)") from None
    except Image.DecompressionBombError as e:
        raise CliError(f"{p}: cannot read image ({e})") from None
    except MemoryError:
        raise CliError(f"{p}: out of memory reading it") from None
    except (OSError, SyntaxError, EOFError) as e:
        raise CliError(f"{p}: cannot read image ({e})") from None
    except (TypeError, ValueError) as e:
        raise CliError(f"{p}: unsupported image ({e})") from None


def sixteen_bit(im: Any) -> str:
    """A description of the 16-bit samples of an opened, not yet loaded, PIL image ("16-bit RGB", ...), or "" for
    8 bits. Pillow opens 16-bit RGB PNG and TIFF files as 8-bit RGB, keeping only the high byte of each value."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        return "16-bit greyscale"
    raw = " ".join(str(getattr(t, "args", t[3] if len(t) > 3 else "")) for t in (getattr(im, "tile", None) or []))
    bits = getattr(im, "tag_v2", {}).get(258) if hasattr(im, "tag_v2") else None
    if ";16" in raw or (isinstance(bits, tuple) and max(bits, default=8) > 8) or (isinstance(bits, int) and bits > 8):
        return f"16-bit {mode}"
    return ""


def check_writable(path: PathLike, force: bool) -> Path:
    """Fails unless ``path`` can be written: its folder exists and it does not exist yet (or ``force``); ``-``
    (standard output) always can."""
    p = Path(path)
    if is_stdio(path):
        return p
    if p.is_dir():
        raise CliError(f"{p}: is a folder (give a file name)")
    if p.exists() and not force:
        raise CliError(f"{p}: already exists (use --force to overwrite)")
    if not p.parent.is_dir():
        raise CliError(f"{p.parent}: no such folder")
    return p


def write_bytes(path: PathLike, data: bytes, force: bool) -> None:
    """Writes ``data`` to ``path`` atomically (a temporary file, then a rename); never overwrites unless ``force``."""
    import sys

    p = check_writable(path, force)
    try:
        if is_stdio(path):
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        _write_atomically(p, data, force)
    except OSError as e:
        raise CliError(f"{p}: cannot write ({_reason(e)})") from None


def _write_atomically(p: Path, data: bytes, force: bool) -> None:
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would, as the user expects.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if force:
            os.replace(tmp, p)
        else:
            # link() fails if the name appeared in the meantime, so a concurrent file is never clobbered.
            try:
                os.link(tmp, p)
            except FileExistsError as e:
                raise CliError(f"{p}: already exists (use --force to overwrite)") from e
            except OSError:
                if p.exists():
                    raise CliError(f"{p}: already exists (use --force to overwrite)") from None
                os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: zlib level of palette PNGs. Pillow writes indexed rows unfiltered (what suits palette images); on Kodak at 256
#: colours (measured on a loaded machine) level 3 took about half the CPU time of the default 6 for files 0.5% larger,
#: level 9 and ``optimize`` about 1.5x the time of 6 for 0.1% smaller.
PALETTE_PNG_LEVEL = 3

#: zlib level of quantized images' PNGs (a few levels per channel, written as RGB or grey with Pillow's adaptive
#: filters). On 12 Kodak and 12 training photographs at 2, 4 and 6 bits, level 4 took 0.38-0.50x the CPU time of the
#: default 6 for files 2-9% larger; level 3 was hardly faster and up to 25% larger. PNG writing is most of a
#: quantized file's time, so this is what ``qfast batch quantize`` spends least on.
QUANTIZED_PNG_LEVEL = 4

#: The most pixels a file may have: Pillow's own refusal (``DecompressionBombError``, twice ``MAX_IMAGE_PIXELS``).
PILLOW_MAX_PIXELS = 2 * 89_478_485


def png_args(path: PathLike, level: int) -> dict:
    """Pillow's save options for a PNG at zlib ``level`` when ``path`` names a PNG (standard output included), none
    otherwise. ``qfast palette`` and ``qfast batch palette`` write with :data:`PALETTE_PNG_LEVEL`, ``qfast
    quantize`` and ``qfast batch quantize`` with :data:`QUANTIZED_PNG_LEVEL`."""
    p = str(path)
    return {"compress_level": level} if p == "-" or p.lower().endswith(".png") else {}


def encode_image(image: Any, path: PathLike, **save_args: Any) -> bytes:
    """Encodes a uint8 array or PIL image in the format ``path``'s extension names (PNG, GIF, WebP, TIFF, ...; PNG for
    ``-``, standard output)."""
    import io

    import numpy as np
    from PIL import Image

    p = Path(path)
    fmt = "PNG" if is_stdio(path) else format_of(p)
    if fmt is None:
        raise CliError(f"{p}: unknown image format {p.suffix!r} (use .png, .webp, .tif, .bmp or .gif)")
    if isinstance(image, np.ndarray) and image.dtype == np.uint16 and fmt not in ("PNG", "TIFF"):
        raise CliError(f"{p}: {fmt} cannot hold 16-bit values; write .png or .tif (or use --depth 8)")
    if fmt == "GIF" and not isinstance(image, Image.Image):
        image = _exact_gif(np.asarray(image), p)
    if not isinstance(image, Image.Image):
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    im = image
    buf = io.BytesIO()
    try:
        im.save(buf, format=fmt, **save_args)
    except (OSError, ValueError, KeyError) as e:
        raise CliError(f"{p}: cannot write {fmt} ({e})") from e
    return buf.getvalue()


def _exact_gif(image: np.ndarray, path: Path) -> Any:
    """An indexed image holding exactly ``image``'s colours, for a GIF; CliError when it has more than 256 (GIF's
    limit) or partial transparency, rather than the approximation Pillow would write."""
    import numpy as np
    from PIL import Image

    img = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    if img.ndim == 3 and img.shape[2] in (2, 4):
        if (img[..., -1] != 255).any():
            raise CliError(f"{path}: GIF cannot hold partial transparency; write .png, .webp or .tif")
        img = img[..., :-1]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    flat = img.reshape(-1, 1 if img.ndim == 2 else img.shape[2])
    colours, index = np.unique(flat, axis=0, return_inverse=True)
    if len(colours) > 256:
        raise CliError(
            f"{path}: GIF holds at most 256 colours and the result has {len(colours):,}; "
            "write .png, .webp or .tif, or use qfast palette for a GIF"
        )
    rgb = np.repeat(colours, 3, axis=1) if colours.shape[1] == 1 else colours
    out = Image.fromarray(index.reshape(img.shape[:2]).astype(np.uint8), "P")
    out.putpalette(rgb.astype(np.uint8).reshape(-1).tolist())
    return out


def format_of(path: PathLike) -> str | None:
    """The Pillow format ``path``'s extension names, or None. The common formats (PNG, GIF, JPEG, BMP, PPM) are known
    after Pillow's ``preinit``; only other extensions load every plugin (``registered_extensions``), which costs tens
    of milliseconds, a fifth of a short command's whole run."""
    from PIL import Image

    ext = Path(path).suffix.lower()
    Image.preinit()
    return Image.EXTENSION.get(ext) or Image.registered_extensions().get(ext)


#: The extensions of the lossy formats Pillow writes (JPEG, JPEG 2000, MPO): Pillow's own lists, kept here so the check
#: loads no plugin.
LOSSY_EXTENSIONS = frozenset((".jpg", ".jpeg", ".jpe", ".jfif", ".jp2", ".j2k", ".jpc", ".jpf", ".jpx", ".j2c", ".mpo"))


def refuse_lossy(path: PathLike) -> None:
    """CliError if ``path`` names a lossy format (JPEG), which cannot hold exact levels or palette colours."""
    p = Path(path)
    if p.suffix.lower() in LOSSY_EXTENSIONS:
        raise CliError(f"{p}: JPEG is lossy and would change the exact levels; write .png, .webp, .tif or .bmp")


def write_image(image: Any, path: PathLike, force: bool = False, **save_args: Any) -> None:
    """Writes an image file; refuses to overwrite an existing file unless ``force``."""
    check_writable(path, force)
    write_bytes(path, encode_image(image, path, **save_args), force)
