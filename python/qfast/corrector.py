"""The QANN corrector at run time: onnxruntime only (no PyTorch).

A small U-Net, trained on photos quantized uniformly to 2..64 levels per channel, that takes the mid-bin
reconstruction and the level count of each channel and removes much of the banding and flattening. ``"int8"`` is
the same network quantized (after quantization-aware training); ``"ycbcr420"`` undoes the codec's levels mode in
YCbCr 4:2:0 instead; ``"rgb-v1"`` is the first default model, kept for the ``.qfz`` files that name it. See the
README section "The corrector" for the measured gains and ``onnx/`` for how they were trained.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ._validate import Levels, per_channel

MODELS_DIR = Path(__file__).resolve().parent / "models"
MAX_LEVELS = 64  # the trained range is 2..64; channels with more levels pass through unchanged
MAX_YCBCR_LEVELS = (128, 256, 256)  # the YCbCr model's trained Y, Cb, Cr ranges; more luma levels pass through
SHIPPED = ("default", "int8", "ycbcr420", "rgb-v1")  # the shipped models' names (manifest.json)
QUANTIZERS = ("rgb", "ycbcr420")  # what a model undoes: its ONNX metadata "quantizer" (absent: "rgb")
STRIDE = 16  # the network's height and width must be multiples of this
PROVIDER_ORDER = ("CUDAExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider")


def _manifest() -> dict:
    path = MODELS_DIR / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise FileNotFoundError(f"model: cannot read the model manifest {path}: {e}") from e


def model_path(model: Union[str, Path] = "default") -> Path:
    """The file of a shipped model (``"default"`` for fp32, ``"int8"``, ``"ycbcr420"``, ``"rgb-v1"``) or ``model``
    as a path.

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        TypeError: ``model`` is not a str or a path.
    """
    if isinstance(model, str) and model in SHIPPED:
        entry = _manifest()["models"][model]
        path = MODELS_DIR / entry["file"]
    elif isinstance(model, (str, Path)):
        path = Path(model)
    else:
        names = ", ".join(repr(n) for n in SHIPPED)
        raise TypeError(f"model: expected {names} or a path, got {type(model).__name__}")
    if not path.is_file():
        raise FileNotFoundError(f"model: no such model file {path}")
    return path


def available_providers() -> list[str]:
    """onnxruntime's providers usable here, in the order the corrector prefers them (CUDA, CoreML, CPU)."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    return [p for p in PROVIDER_ORDER if p in have]


def select_providers(providers: Optional[Sequence[str]], available: Sequence[str]) -> list[str]:
    """The providers a session gets: ``providers`` if all are available, or by default the available ones among
    CUDA, CoreML and CPU, in that order.

    Args:
        providers: names asked for, in order, or None.
        available: what onnxruntime offers (``onnxruntime.get_available_providers()``).

    Returns:
        A non-empty list of provider names.

    Raises:
        TypeError: ``providers`` is not a list of str. ValueError: one of them is not available.
    """
    if providers is None:
        return [p for p in PROVIDER_ORDER if p in available] or list(available)
    names = isinstance(providers, Sequence) and not isinstance(providers, str)
    if not names or any(not isinstance(p, str) for p in providers):
        raise TypeError("providers: expected a list of provider names such as ['CPUExecutionProvider']")
    missing = [p for p in providers if p not in available]
    if missing or not providers:
        raise ValueError(f"providers: {missing or 'an empty list'} not available here; available: {list(available)}")
    return list(providers)


def _keep_forever(obj: Any) -> None:
    """Takes a reference that is never released, so ``obj`` is never destroyed, not even at interpreter exit."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def _is_pil(obj: Any) -> bool:
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "mode")


def _check_grid(image: np.ndarray, levels: np.ndarray) -> None:
    """ValueError unless each colour channel of ``image`` (H, W, C) holds only mid-bin values of its level count:
    the corrector was trained on those, and on anything else (an original, a full-range reconstruction, another
    level count) it makes the image worse, not better."""
    for c, L in enumerate(int(v) for v in levels):
        if L > MAX_LEVELS:  # passes through unchanged: nothing to get wrong
            continue
        i = np.arange(L)
        grid = np.zeros(256, bool)
        # the midpoint reconstruction of qfast.dequantize_uniform: the middle of bin i, rounded up
        lo, hi = (256 * i + L - 1) // L, (256 * (i + 1) + L - 1) // L - 1
        grid[(lo + hi + 1) // 2] = True
        off = None
        for y0 in range(0, image.shape[0], 256):  # in bands: the boolean temporaries stay small
            plane = image[y0 : y0 + 256, :, c]
            band_off = ~grid[plane]
            if band_off.any():
                plane, off = image[..., c], ~grid[image[..., c]]  # the whole count, for the message
                break
        if off is not None:
            example = int(plane[off].flat[0])
            raise ValueError(
                f"image: channel {c} is not the mid-bin reconstruction of {L} levels ({int(off.sum()):,} values off "
                f"that grid, e.g. {example}): pass qfast.quantize_uniform(original, levels) with the levels it was "
                "quantized with (midpoint reconstruction)"
            )


def _levels(levels: Levels, channels: int = 3) -> np.ndarray:
    if isinstance(levels, np.ndarray) and levels.ndim == 0:
        levels = levels.item()
    if isinstance(levels, (np.integer, int)) and not isinstance(levels, bool):
        return np.array(per_channel(int(levels), "levels", channels, 2, 256), np.int64)
    if isinstance(levels, (Sequence, np.ndarray)) and not isinstance(levels, (str, bytes)):
        return np.array(per_channel(list(levels), "levels", channels, 2, 256), np.int64)
    raise TypeError(f"levels: expected an int or one int per channel, got {type(levels).__name__}")


def _bound(max_error: Levels, levels: np.ndarray) -> np.ndarray:
    """``max_error`` as one int16 per channel, checked against the widest bin of each channel's levels."""
    d = np.array(per_channel(max_error, "max_error", 3, 0, 255), np.int16)
    widest = -(-256 // levels)  # ceil(256 / L): the widest bin has this many values
    for k in range(3):
        if widest[k] > 2 * d[k] + 1:
            raise ValueError(
                f"max_error: {levels[k]} levels have bins of {widest[k]} values, too wide for max_error {d[k]} "
                f"(at most {2 * d[k] + 1})"
            )
    return d


def bin_bounds(image: np.ndarray, levels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest value of each pixel's uniform quantization bin.

    Bin i of L holds the integers ``ceil(256 i / L)`` .. ``ceil(256 (i + 1) / L) - 1``; a value x lies in bin
    ``floor(x L / 256)``.

    Args:
        image: uint8 (H, W, 3).
        levels: the level count of each channel.

    Returns:
        (lo, hi), two uint8 arrays of the image's shape.
    """
    lv = np.asarray(levels, np.int32).reshape(1, 1, -1)
    idx = image.astype(np.int32) * lv // 256
    lo = (256 * idx + lv - 1) // lv
    hi = (256 * (idx + 1) + lv - 1) // lv - 1
    return lo.astype(np.uint8), hi.astype(np.uint8)


def _strength_rows(strengths: Optional[tuple[int, np.ndarray]], h: int, w: int) -> Any:
    """From a strength map ``(tile, codes)``, a function of ``(y0, n)`` giving the codes of rows ``y0 .. y0 + n`` per
    pixel ((n, w) uint8); None without a map. Checks the map against the image."""
    if strengths is None:
        return None
    try:
        tile, codes = strengths
    except (TypeError, ValueError):
        raise TypeError("strengths: expected (tile, codes)") from None
    codes = np.asarray(codes)
    if not isinstance(tile, (int, np.integer)) or tile < 1:
        raise ValueError(f"strengths: expected a tile size >= 1, got {tile!r}")
    want = (-(-h // int(tile)), -(-w // int(tile)))
    if codes.shape != want or codes.dtype.kind not in "ui" or codes.size == 0 or codes.min() < 0 or codes.max() > 2:
        raise ValueError(f"strengths: expected codes 0..2 of shape {want} for {tile}-pixel tiles, got {codes.shape}")
    cols = np.arange(w) // int(tile)

    def rows(y0: int, n: int) -> np.ndarray:
        return codes[(np.arange(y0, y0 + n) // int(tile))[:, None], cols[None, :]].astype(np.uint8)

    return rows


def _padded_index(size: int, padded: int, mode: str) -> np.ndarray:
    """Source index of each position of an axis padded from ``size`` to ``padded`` as ``np.pad(mode=mode)`` would."""
    return np.pad(np.arange(size), (0, padded - size), mode=mode) if padded > size else np.arange(size)


def _slice_of(index: np.ndarray) -> Optional[slice]:
    """``index`` as a slice when it is a run of consecutive integers (a tile inside the image), else None."""
    if len(index) and int(index[-1]) - int(index[0]) == len(index) - 1 and (np.diff(index) == 1).all():
        return slice(int(index[0]), int(index[-1]) + 1)
    return None


def _tile_sides(hp: int, wp: int, tile: int, overlap: int) -> tuple[int, int]:
    """The tile sides (rows, columns) for an image padded to ``hp`` x ``wp``: of the layouts whose tiles hold at most
    ``tile`` x ``tile`` pixels (the memory budget: one tile's activations) with no side above ``2 * tile``, the one
    that runs the fewest pixels through the network. Tiles need not be square: with the default 768 and overlap 64,
    a 1024 x 656 image runs as two 656 x 544 tiles (1.06x its pixels) rather than two 656 x 768 ones (1.5x), and an
    image within the budget in one pass."""
    budget, longest = tile * tile, 2 * tile
    if hp * wp <= budget and max(hp, wp) <= longest:
        return hp, wp  # one pass

    def side(size: int, n: int) -> int:  # the side of n tiles covering size, neighbours sharing overlap
        if n == 1:
            return size
        raw = -(-(size + (n - 1) * overlap) // n)
        return -(-raw // STRIDE) * STRIDE

    best: Optional[tuple[int, int, int]] = None
    for nr in range(1, hp // STRIDE + 1):
        lr = side(hp, nr)
        if nr > 1 and lr < max(2 * overlap, 4 * STRIDE):
            break
        if lr > longest or lr * STRIDE > budget:
            continue
        for nc in range(1, wp // STRIDE + 1):
            lc = side(wp, nc)
            if nc > 1 and lc < max(2 * overlap, 4 * STRIDE):
                break
            if lc <= longest and lr * lc <= budget:
                cost = nr * nc * lr * lc
                if best is None or cost < best[0]:
                    best = (cost, lr, lc)
                break  # more columns only add overlap
    if best is None:  # cannot happen for tile >= 64 (square tiles of the budget always fit): kept as a guard
        return min(tile, hp), min(tile, wp)
    return best[1], best[2]


def _axis_weights(size: int, tile: int, overlap: int) -> list[tuple[int, np.ndarray]]:
    """(start, weights) of each tile along one axis; the weights of the tiles covering a pixel sum to 1.

    Tiles start every ``tile - overlap`` pixels, the last one flush with the end. Where two tiles overlap, the
    outer quarter of the overlap on each side is context only (weight 0 for the tile it ends), and in the middle
    half the earlier tile ramps down while the later one ramps up (raised cosine): pixels near a tile's edge,
    which see less of the image around them, count for little or nothing.
    """
    if size <= tile:
        return [(0, np.ones(size, np.float32))]
    # As few tiles as cover the axis with at least ``overlap`` shared, spread evenly (starts on the network's
    # stride, so every tile sees the downsampling grid of one pass): neighbours share about the same amount.
    n = -(-(size - overlap) // (tile - overlap))
    spacing = -(-(size - tile) // (n - 1))
    gap = min(-(-spacing // STRIDE) * STRIDE, tile - overlap)
    starts = [min(k * gap, size - tile) for k in range(n - 1)] + [size - tile]
    margin = overlap // 4
    n = overlap - 2 * margin
    up = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n, dtype=np.float32) + 0.5) / max(n, 1))
    out = []
    for k, s in enumerate(starts):
        w = np.ones(tile, np.float32)
        if k > 0:
            e = starts[k - 1] + tile - s  # where the previous tile ends, relative to this one (>= overlap)
            w[: e - overlap + margin] = 0.0
            w[e - overlap + margin : e - margin] = up
        if k < len(starts) - 1:
            w[tile - overlap + margin : tile - margin] *= up[::-1]
            w[tile - margin :] = 0.0
        out.append((s, w))
    return out


class Corrector:
    """Removes uniform-quantization artifacts with the shipped QANN model (onnxruntime).

    The onnxruntime session is created once, here, and reused by every :meth:`correct` call.

    Args:
        model: ``"default"`` (the fp32 model), ``"int8"`` (its int8 quantized variant, faster on CPUs, slightly less
            accurate), ``"ycbcr420"`` (the fp32 model for the codec's YCbCr 4:2:0 levels mode), ``"rgb-v1"`` (the
            first default model, kept so that ``.qfz`` files written with it decode with it) or the path of an ONNX
            file with the same inputs and output. The model's ONNX metadata ``quantizer`` says which kind it is
            (:attr:`quantizer`).
        providers: onnxruntime execution providers to use, in order; ``None`` picks from those available in the
            order CUDA, CoreML, CPU.
        tile: the memory budget, as the side of a square tile in pixels (a multiple of 16, >= 64): an image of more
            than ``tile`` x ``tile`` pixels (or with a side above ``2 * tile``) runs in overlapping tiles of at most
            that many pixels, not necessarily square, laid out to run the fewest pixels through the network
            (768: a 1280 x 853 photo runs as two 864 x 672 tiles, 1.05x its pixels), so memory stays bounded.
        overlap: pixels shared by neighbouring tiles (a multiple of 16, 0 <= overlap <= tile / 2; default 64, or
            tile / 2 for smaller tiles): the outer quarter on each side is context only, the middle half a
            raised-cosine blend, so the seams don't show (tiles match one pass within a grey level). Against 128, on
            the 19 tiled images of the evaluation's other set: -0.009 dB on average at 4 levels (the worst image
            -0.10 dB), -0.0001 dB at 16.

    Raises:
        FileNotFoundError: the model file does not exist. ValueError: it is not a valid ONNX model, or a provider
        asked for is not available, or ``tile``/``overlap`` are out of range. TypeError: wrong argument types.
        ImportError: onnxruntime is not installed.

    Example:
        >>> c = qfast.Corrector()
        >>> q = qfast.quantize_uniform(img, 8)
        >>> better = c.correct(q, 8)
        >>> qfast.psnr(img, better) > qfast.psnr(img, q)
        True
    """

    def __init__(
        self,
        model: Union[str, Path] = "default",
        providers: Optional[Sequence[str]] = None,
        *,
        tile: int = 768,
        overlap: Optional[int] = None,
    ):
        import onnxruntime as ort

        from ._validate import as_int

        self.tile = as_int(tile, "tile", 64)
        if self.tile % STRIDE:
            raise ValueError(f"tile: expected a multiple of {STRIDE}, got {self.tile}")
        if overlap is None:
            overlap = min(64, self.tile // 2 // STRIDE * STRIDE)
        self.overlap = as_int(overlap, "overlap", 0, self.tile // 2)
        if self.overlap % STRIDE:
            raise ValueError(f"overlap: expected a multiple of {STRIDE}, got {self.overlap}")
        self.path = model_path(model)
        self._chosen = select_providers(providers, ort.get_available_providers())
        self._open()
        names = {i.name for i in self.session.get_inputs()}
        if names != {"image", "levels"}:
            raise ValueError(f"model: {self.path} has inputs {sorted(names)}, expected ['image', 'levels']")
        quantizer = self.session.get_modelmeta().custom_metadata_map.get("quantizer", "rgb")
        if quantizer not in QUANTIZERS:
            raise ValueError(f"model: {self.path} undoes quantizer {quantizer!r}, expected one of {QUANTIZERS}")
        #: ``"rgb"``: ``levels`` are uniform RGB levels; ``"ycbcr420"``: the Y, Cb, Cr levels of a 4:2:0 ``.qfz``.
        self.quantizer: str = quantizer
        self.providers: list[str] = self.session.get_providers()

    def _open(self) -> None:
        """Creates the onnxruntime session, in this process (see :meth:`_run` for forked children)."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: no provider-assignment chatter on stderr
        # idle threads sleep instead of spinning: on a busy machine spinning threads steal each other's time
        # (measured on 2 shared cores: 0.13 s instead of 0.32 s for 768 x 512)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=self._chosen)
        except Exception as e:  # onnxruntime raises its own exception types for invalid files
            raise ValueError(f"model: {self.path} is not a valid ONNX model: {e}") from e
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"Corrector(model={str(self.path)!r}, providers={self.providers!r})"

    def _run(self, inp: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """The network on a float32 (1, 3, H, W) image in [0, 1], H and W multiples of STRIDE: (3, H, W)."""
        if self._pid != os.getpid():
            # A child made by fork: the parent's session's worker threads did not survive the fork, so running it
            # would wait for ever, and so would destroying it (its destructor joins those threads): it is kept
            # alive for good, and a fresh session (tens of milliseconds, once per child) takes its place.
            _keep_forever(self.session)
            self._open()
        try:
            out = self.session.run(None, {"image": inp, "levels": levels[None].astype(np.float32)})[0]
        except Exception as e:  # onnxruntime's own exception types; its allocation failures become MemoryError
            if "allocate" in str(e).lower():
                raise MemoryError(f"the corrector could not allocate memory for a tile: {e}") from None
            raise
        return out[0]

    def correct(
        self,
        image: Any,
        levels: Levels,
        *,
        clamp: bool = False,
        max_error: Optional[Levels] = None,
        out: Optional[np.ndarray] = None,
        strengths: Optional[tuple[int, np.ndarray]] = None,
    ) -> np.ndarray:
        """Corrects the mid-bin reconstruction of a uniformly quantized RGB image.

        Args:
            image: uint8 array or PIL image, RGB (H, W, 3), RGBA (alpha passes through), grey (H, W) or (H, W, 1), or
                grey with alpha: the output of ``qfast.quantize_uniform(original, levels)`` (mid-bin). Any value
                that is not the middle of a bin of ``levels`` is a ValueError (an unquantized image, a full-range
                reconstruction, another level count: the model would make it worse). For a ``"ycbcr420"`` model:
                ``qfast.decode(data, correct=False)`` of a levels-mode file with ``subsample=True`` (RGB or RGBA).
            levels: the level count it was quantized with, 2..256: one int for all colour channels or one per colour
                channel (three, or one for grey).
                The model was trained on 2..64; a channel with more than 64 levels passes through unchanged. For a
                ``"ycbcr420"`` model: the file's Y, Cb and Cr levels (trained on Y 2..128, chroma up to 256; with
                more than 128 luma levels the image passes through unchanged).
            clamp: keep every value inside its quantization bin (bin i of L holds ``ceil(256 i / L)`` ..
                ``ceil(256 (i + 1) / L) - 1``): the output never leaves the bin the original value lay in, so its error
                is below the bin's width (the plain midpoint's is about half of it).
            max_error: keep every value within this many grey levels of every value of its bin (one int, or one per
                channel), so whatever the original was, the error stays within it: the window
                ``[hi - max_error, lo + max_error]`` of each bin ``lo..hi``. The bins must be at most
                ``2 * max_error + 1`` values wide; the narrower they are, the more room the corrector has. This is
                how ``qfast.decode`` keeps the bound of a bounded ``.qfz`` file.
            out: a uint8 array of the input's shape to write the result into (checked and returned); it may be
                ``image`` itself (an RGB array, or a view of an RGBA array's colour channels), which corrects in
                place with no second image in memory (how ``qfast.decode`` runs it).
            strengths: a ``.qfz`` strength map, ``(tile, codes)``: ``codes`` a uint8 array of one code per ``tile``
                x ``tile`` pixel tile (rows of tiles top to bottom), 0 to keep the input there, 1 for half the
                correction (``(input + corrected + 1) // 2``), 2 for all of it (:func:`qfast.codec.blend`). RGB
                images only (or the colour channels of RGBA). None: all of it everywhere.

        Returns:
            The corrected uint8 array, of the input's shape (``out`` if given).

        Raises:
            TypeError: ``image`` is not a uint8 array or PIL image, or ``levels`` is not an int or a sequence of ints.
            ValueError: ``image`` is not (H, W) or (H, W, 1..4) or holds values off the mid-bin grid, ``levels``
                is out of 2..256 or not one per channel, a channel's bins are too wide for its ``max_error``, or
                ``clamp``/``max_error`` with a ``"ycbcr420"`` model (its bins are not RGB bins).

        Example:
            >>> c = qfast.Corrector()
            >>> c.correct(qfast.quantize_uniform(img, [8, 8, 4]), [8, 8, 4], clamp=True).shape
            (512, 768, 3)
        """
        from ._validate import as_image

        if not isinstance(image, np.ndarray) and not _is_pil(image):
            raise TypeError(f"image: expected a NumPy uint8 array or a PIL image, got {type(image).__name__}")
        if isinstance(image, np.ndarray) and image.dtype != np.uint8:
            raise TypeError(f"image: expected dtype uint8, got {image.dtype}")
        arr = as_image(image)
        if not isinstance(clamp, (bool, np.bool_)):
            raise TypeError(f"clamp: expected a bool, got {type(clamp).__name__}")
        shape = arr.shape
        ch = 1 if arr.ndim == 2 else shape[2]
        colours = 1 if ch in (1, 2) else 3
        if self.quantizer == "ycbcr420" and colours != 3:
            raise ValueError(f"image: a 'ycbcr420' model corrects colour images (H, W, 3 or 4), got {shape}")
        lv = _levels(levels, colours)
        if strengths is not None and colours != 3:
            raise ValueError("strengths: a strength map applies to colour images (RGB or RGBA)")
        if self.quantizer == "rgb":
            _check_grid(arr if arr.ndim == 3 else arr[..., None], lv)
        if out is not None:
            # any strides (a view of an RGBA image's colour channels is the point): written a band at a time
            if not isinstance(out, np.ndarray) or out.dtype != np.uint8:
                raise TypeError(f"out: expected a NumPy uint8 array, got {getattr(out, 'dtype', type(out).__name__)}")
            if out.shape != shape or not out.flags.writeable:
                raise ValueError(f"out: expected a writeable uint8 array of shape {shape}, got {out.shape}")
            target = out
            if ch == 3:
                return self._correct_rgb(arr, lv, clamp, max_error, out=target, strengths=strengths)
            np.copyto(target, self.correct(arr, lv.tolist(), clamp=clamp, max_error=max_error))
            return target
        if colours == 1:
            # grey: the same plane in R, G and B (the model was trained on colour), the mean of the three back
            g = arr if arr.ndim == 2 else arr[..., 0]
            rgb = np.repeat(g[..., None], 3, axis=2)
            out = self._correct_rgb(rgb, np.repeat(lv, 3), clamp, max_error)
            grey = out.astype(np.uint16).sum(axis=2, dtype=np.uint16)
            grey = ((grey + 1) // 3).astype(np.uint8)  # rounded; a mean of values in a bin's window stays in it
            res = arr.copy()
            if arr.ndim == 2:
                return grey
            res[..., 0] = grey
            return res
        if ch == 4:
            res = arr.copy()
            res[..., :3] = self._correct_rgb(
                np.ascontiguousarray(arr[..., :3]), lv, clamp, max_error, strengths=strengths
            )
            return res
        return self._correct_rgb(arr, lv, clamp, max_error, strengths=strengths)

    def _correct_rgb(
        self,
        img: np.ndarray,
        lv: np.ndarray,
        clamp: bool,
        max_error: Optional[Levels],
        out: Optional[np.ndarray] = None,
        strengths: Optional[tuple[int, np.ndarray]] = None,
    ) -> np.ndarray:
        """:meth:`correct` on a checked uint8 (H, W, 3) array with one level count per channel, into a new array or
        into ``out`` (which may be ``img`` itself: each row is read for the last time before it is written)."""
        codes_of = _strength_rows(strengths, img.shape[0], img.shape[1])
        from .codec import blend  # the strength map's blend, the encoder's own (codec imports this module lazily)

        if self.quantizer == "ycbcr420":
            if clamp or max_error is not None:
                raise ValueError("clamp: a 'ycbcr420' model's bins are YCbCr 4:2:0 bins, not RGB bins; use clamp=False")
            active = np.repeat(lv[0] <= MAX_YCBCR_LEVELS[0], 3)
            net = np.minimum(lv, MAX_YCBCR_LEVELS).astype(np.float32)
        else:
            active = lv <= MAX_LEVELS
            net = np.minimum(lv, MAX_LEVELS).astype(np.float32)
        bound = None if max_error is None else _bound(max_error, lv).reshape(1, 1, 3)
        target = np.empty_like(img) if out is None else out
        if not active.any():
            np.copyto(target, img)
            return target

        def finish(rows: np.ndarray, y0: int) -> None:
            """The final rows ``y0 ..`` (float, rounded into 0..255): kept in their bins (or the bound's window),
            inactive channels passed through, written; while ``img``'s rows are still the mid-bin ones. In bands of
            64 rows, so the integer temporaries of the bin bounds stay small whatever the tile."""
            for b0 in range(0, len(rows), 64):
                band = rows[b0 : b0 + 64]
                y = y0 + b0
                src = img[y : y + len(band)]
                if clamp or bound is not None:
                    lo, hi = bin_bounds(src, lv.tolist())
                    if bound is not None:  # the window [hi - d, lo + d], both ends from the bin's own lo and hi
                        lo, hi = (
                            np.maximum(lo, hi.astype(np.int16) - bound),
                            np.minimum(hi, lo.astype(np.int16) + bound),
                        )
                    np.clip(band, lo, hi, out=band)
                band[..., ~active] = src[..., ~active]
                if codes_of is not None:
                    band = blend(src, band, codes_of(y, len(band))[..., None])
                target[y : y + len(band)] = band  # exact integers in 0..255: the cast to uint8 loses nothing

        self._bands(img, net, finish)
        return target

    def _bands(self, img: np.ndarray, levels: np.ndarray, finish: Any) -> None:
        """The network over ``img`` (uint8 (H, W, 3)) in overlapping tiles, blended and rounded; each band of final
        rows goes to ``finish(rows, y0)`` (float32 (n, W, 3), integers in 0..255) as soon as no later tile reaches
        it, top to bottom, and the rows of ``img`` it covers are never read again (so ``finish`` may overwrite them).

        The image is seen as padded by reflection to multiples of the network's stride (so tiles see the same
        borders and downsampling grid as one pass would), but no padded or float copy of it is made: each tile is
        read from the uint8 image, and the blended floats are kept only for the rows that a later row of tiles
        still overlaps. Memory beyond the output: one tile's activations and input, plus a band of one tile's
        height x W x 3 float32 (about 9 KB per image column for a 768-row tile).
        """
        h, w = img.shape[:2]
        hp, wp = h + (-h % STRIDE), w + (-w % STRIDE)
        mode = "reflect" if h > hp - h and w > wp - w else "edge"  # reflection needs more pixels than it adds
        rows_of, cols_of = _padded_index(h, hp, mode), _padded_index(w, wp, mode)
        th_max, tw_max = _tile_sides(hp, wp, self.tile, self.overlap)
        row_tiles = _axis_weights(hp, th_max, self.overlap)
        col_tiles = _axis_weights(wp, tw_max, self.overlap)
        # Rows acc_y0 .. acc_y0 + th_max of the blend, channels first as the network works (so no strided copies).
        acc = np.zeros((3, th_max, wp), np.float32)
        acc_y0 = 0
        for k, (y0, wy) in enumerate(row_tiles):
            th = len(wy)
            if y0 > acc_y0:  # rows above y0 are final: no later tile reaches them
                done = y0 - acc_y0
                self._emit(finish, acc[:, :done], acc_y0, h, w)
                acc[:, :-done] = acc[:, done:].copy()
                acc[:, -done:] = 0.0
                acc_y0 = y0
            ry = rows_of[y0 : y0 + th]
            if ry.min() < acc_y0:  # cannot happen (padding reflects rows of the last tile row only): kept as a guard
                raise AssertionError("a tile would read rows that are already final")
            for x0, wx in col_tiles:
                tw = len(wx)
                rx = cols_of[x0 : x0 + tw]
                rows, cols = _slice_of(ry), _slice_of(rx)
                # A tile inside the image is a view; one reaching into the padding gathers its reflected pixels.
                src = img[rows, cols] if rows is not None and cols is not None else img[np.ix_(ry, rx)]
                inp = np.empty((1, 3, th, tw), np.float32)
                np.divide(src.transpose(2, 0, 1), np.float32(255.0), out=inp[0], dtype=np.float32)
                y = self._run(inp, levels)
                if len(row_tiles) == len(col_tiles) == 1:
                    acc[:, :th, :tw] = y  # one pass: all weights 1
                else:
                    np.multiply(y, wy[:, None] * wx[None, :], out=y)  # in place: no tile-sized temporary
                    acc[:, y0 - acc_y0 : y0 - acc_y0 + th, x0 : x0 + tw] += y
            if k == len(row_tiles) - 1:
                self._emit(finish, acc[:, : hp - acc_y0], acc_y0, h, w)

    @staticmethod
    def _emit(finish: Any, rows: np.ndarray, y0: int, h: int, w: int) -> None:
        """Scales and rounds blended rows (channels first, padded coordinates, starting at row ``y0``), drops the
        padding and hands them to ``finish`` as (n, W, 3)."""
        n = max(0, min(rows.shape[1], h - y0))
        for b0 in range(0, n, 64):  # 64 rows at a time: the (rows, W, 3) copy stays small whatever the band
            band = np.ascontiguousarray(rows[:, b0 : min(n, b0 + 64), :w].transpose(1, 2, 0))
            np.multiply(band, 255.0, out=band)
            np.rint(band, out=band)
            np.clip(band, 0, 255, out=band)
            finish(band, y0 + b0)
