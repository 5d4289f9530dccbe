"""``qfast palette``: reduce an image to K colours and write an indexed PNG or GIF (or an animated sweep of K).

Images with transparency get RGBA palettes (``--alpha palette``, the default): PNG output carries them as ``tRNS``,
GIF output as its one transparent index (entries with alpha below 128; a one-line note says so when the palette had
partial transparency). ``--quality MIN-MAX`` picks the fewest colours that reach MAX on pngquant's 0-100 scale (exit
status 99 when even the most colours allowed fall below MIN); ``--skip-if-larger`` writes nothing when the result
would be larger than the input (exit status 98, as pngquant); ``--posterize BITS`` is pngquant's."""

from __future__ import annotations

import argparse

from .._io import read_image
from ._args import IMAGE_IN, _levels_arg, add_force, add_quiet, out_name, psnr_text, summary


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``palette`` to the subcommands."""
    _add_palette(sub)


def _add_palette(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "palette",
        help="reduce an image to K colours and write an indexed PNG or GIF",
        description="Reduce IN to a palette of K colours (k-means) and write an indexed (palette) image to OUT, PNG "
        "or GIF by extension. With --sweep, write an animated GIF (or PNG) stepping through several palette sizes.",
    )
    p.add_argument("input", metavar="IN", help=IMAGE_IN)
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        required=True,
        help="output file, format from the extension: .png or .gif (indexed), or .tif, .bmp, .webp; not JPEG "
        "(lossy); - for an indexed PNG on standard output",
    )
    # Not required here: --palette-from alone is a palette too (its image's own).
    add_options(p, required=False)
    add_force(p)
    add_quiet(p)
    p.set_defaults(run=_run_palette)


#: Exit status when --quality's minimum cannot be reached, and when --skip-if-larger skipped the output (pngquant's).
EXIT_QUALITY_TOO_LOW = 99
EXIT_LARGER = 98


def _quality_arg(text: str) -> tuple[int, int]:
    """``MIN-MAX``, ``MIN-`` (MIN-100) or ``-MAX`` (0-MAX), ints 0..100 with MIN <= MAX."""
    lo, sep, hi = text.partition("-")
    try:
        if not sep:
            raise ValueError
        q = (int(lo) if lo.strip() else 0, int(hi) if hi.strip() else 100)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX, two ints 0..100 (e.g. 65-80), got {text!r}") from None
    if not all(0 <= v <= 100 for v in q):
        raise argparse.ArgumentTypeError(f"expected values 0..100, got {text!r}")
    if q[0] > q[1]:
        raise argparse.ArgumentTypeError(f"expected MIN <= MAX, got {text!r}")
    return q


def add_options(p: argparse.ArgumentParser, shared: bool = False, required: bool = True) -> None:
    """Adds the options of ``palette``, shared with ``qfast batch palette`` (which adds ``--shared K`` and requires
    one of the sizes)."""
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument(
        "--colors",
        type=int,
        metavar="K",
        help="palette size, 1..256 for an indexed PNG or GIF (one palette per image); up to 65536 for .tif, .bmp or "
        ".webp, written in full colour",
    )
    g.add_argument(
        "--sweep", type=_levels_arg, metavar="K,K,...", help="palette sizes for an animation, e.g. 1,5,10,20,40"
    )
    if shared:
        g.add_argument(
            "--shared",
            type=int,
            metavar="K",
            help="one palette of K colours for all inputs (k-means on the sum of their colour histograms), then "
            "every file mapped onto it",
        )
    p.add_argument(
        "--dither",
        choices=["none", "floyd-steinberg", "atkinson", "bayer4", "bayer8"],
        default="none",
        help="none (default: each pixel its nearest colour), error diffusion (floyd-steinberg, atkinson) or ordered "
        "(bayer4, bayer8)",
    )
    p.add_argument("--color-space", choices=["rgb", "oklab"], default="rgb", help="where distances are measured")
    p.add_argument(
        "--method",
        choices=["kmeans", "median-cut", "kmeans++"],
        default="kmeans",
        help="kmeans (best), median-cut (fastest) or kmeans++ (seeded by --seed)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of kmeans++ (default 0)")
    p.add_argument("--duration", type=int, default=800, help="--sweep: milliseconds per frame (default 800)")
    p.add_argument(
        "--alpha",
        choices=["palette", "keep"],
        default="palette",
        help="palette (default): transparency in the palette (tRNS in PNG, a transparent index in GIF); keep: a "
        "palette of the colours alone, alpha dropped from the indexed output",
    )
    p.add_argument(
        "--quality",
        type=_quality_arg,
        metavar="MIN-MAX",
        help="pngquant's 0-100 scale: the fewest colours (up to --colors, default 256) that reach MAX; exit status 99 "
        "if even that many fall below MIN (MIN- means MIN-100, -MAX means 0-MAX)",
    )
    p.add_argument(
        "--posterize",
        type=int,
        default=0,
        metavar="BITS",
        help="pngquant's: take BITS (0..4) bits of precision off every palette channel, e.g. 4 for ARGB4444 screens",
    )
    p.add_argument(
        "--palette-from",
        metavar="IMAGE",
        help="palette transfer: remap IN onto IMAGE's palette (an indexed PNG or GIF; or, with --colors K, any image: "
        "its K k-means colours)",
    )
    p.add_argument(
        "--skip-if-larger",
        action="store_true",
        help="write nothing if the output would be larger than the input file (exit status 98, as pngquant; in a "
        "batch, the file's status is 'larger')",
    )


def options(args: argparse.Namespace) -> dict:
    """The keyword options of :func:`qfast._ops.palette_file` (``qfast batch palette``; ``qfast palette`` passes
    them to :func:`qfast._ops.palette_image`) from parsed arguments (``shared`` aside), checked, with the palette of
    ``--palette-from`` read once."""
    from .._io import CliError

    batch = hasattr(args, "shared")  # qfast batch palette
    shared = getattr(args, "shared", None)
    given = args.colors is not None or args.sweep is not None or shared is not None or args.quality is not None
    if not given and args.palette_from is None:
        sizes = "--sweep K,K,..., --shared K," if batch else "--sweep K,K,...,"
        raise CliError(f"give --colors K, {sizes} --quality MIN-MAX or --palette-from IMAGE")
    palette = colors = None
    if args.palette_from is not None:
        # One palette for every file, read (or clustered from IMAGE) once, here.
        if args.sweep is not None or shared is not None:
            sizes = "--sweep or --shared" if batch else "--sweep"
            raise CliError(f"--palette-from: not with {sizes} (the palette is given)")
        if args.quality is not None or args.posterize:
            raise CliError("--palette-from: not with --quality or --posterize (the palette is given)")
        palette = _palette_from(args.palette_from, args.colors, args.color_space, args.method, args.seed, args.alpha)
    else:
        colors = args.colors
    ks = None if args.sweep is None else ([args.sweep] if isinstance(args.sweep, int) else args.sweep)
    return {
        "palette": palette,
        "skip_if_larger": args.skip_if_larger,
        "colors": colors,
        "sweep": ks,
        "dither": args.dither,
        "color_space": args.color_space,
        "method": args.method,
        "seed": args.seed,
        "duration": args.duration,
        "alpha": args.alpha,
        "quality": args.quality,
        "posterize": args.posterize,
    }


def _note_gif(path: str, lost: bool) -> None:
    """One line on standard error when a GIF could not hold the palette's partial transparency."""
    import sys

    if lost:
        print(
            f"qfast: note: {out_name(path)}: GIF has no partial transparency: palette entries with alpha below 128 "
            "are transparent, the others opaque (write .png to keep it)",
            file=sys.stderr,
        )


def _write_or_skip(args: argparse.Namespace, data: bytes) -> bool:
    """Writes ``data`` to OUT unless --skip-if-larger and it is larger than the input; False when skipped."""
    import os
    import sys

    from .._io import write_bytes

    if args.skip_if_larger:
        size = os.path.getsize(args.input)
        if len(data) > size:
            if not args.quiet:
                print(
                    f"{out_name(args.output)}: not written: {len(data):,} bytes would be larger than the input's "
                    f"{size:,} (--skip-if-larger)",
                    file=sys.stderr,
                )
            return False
    write_bytes(args.output, data, args.force)
    return True


def _run_palette(args: argparse.Namespace) -> int:
    import sys

    from .._io import CliError, check_writable, is_stdio, refuse_lossy

    refuse_lossy(args.output)
    check_writable(args.output, args.force)
    if args.skip_if_larger and is_stdio(args.input):
        raise CliError("--skip-if-larger: needs an input file to compare with, not standard input")
    if args.colors is not None and not 1 <= args.colors <= 256 and _indexed_output(args.output):
        more = "; write .tif, .bmp or .webp for the full-colour result of a larger palette" if args.colors > 256 else ""
        raise CliError(f"--colors: expected 1..256 for an indexed PNG or GIF, got {args.colors}{more}")
    if args.quality is not None and args.sweep is not None:
        raise CliError("--quality: not with --sweep (the sweep gives the sizes)")
    native = _native_png(args)
    if native is not None:
        return native
    from .. import palette
    from .._ops import palette_image  # NumPy and Pillow: after the native path, which needs neither

    opts = options(args)  # checks the options; reads --palette-from's palette
    del opts["skip_if_larger"]
    img = read_image(args.input)
    try:
        made = palette_image(img, args.output, **opts)
    except palette.QualityError as e:
        msg = str(e).removeprefix("quality: ")
        print(f"qfast: error: --quality: {msg}; nothing written", file=sys.stderr)
        return EXIT_QUALITY_TOO_LOW
    _note_gif(args.output, made.gif_lost_alpha)
    if not _write_or_skip(args, made.data):
        return EXIT_LARGER
    q = made.quantization
    if q is None:
        ks = opts["sweep"]
        summary(args, f"{out_name(args.output)}: {len(ks)} frames, palettes of {', '.join(map(str, ks))} colours")
    elif args.palette_from is not None:
        summary(
            args,
            lambda: (
                f"{out_name(args.output)}: {len(q.palette)} colours from {args.palette_from}, "
                f"{psnr_text(img, q.image())}"
            ),
        )
    else:
        qual = f", quality {q.quality}" if args.quality is not None else ""
        summary(args, lambda: f"{out_name(args.output)}: {len(q.palette)} colours{qual}, {psnr_text(img, q.image())}")
    return 0


def _native_png(args: argparse.Namespace) -> int | None:
    """The command's common case, a PNG file to an indexed PNG with --colors K, done in Rust from file to file
    (``_core.palette_png``: the same quantization as :func:`qfast.quantize_colors`), so the process needs neither NumPy
    nor Pillow: the exit status, or None where the general path must run (other formats, transparency, 16 bits, the
    other options, standard input)."""
    from .. import _core
    from .._io import PALETTE_PNG_LEVEL, PILLOW_MAX_PIXELS, is_stdio, read_file

    plain = args.palette_from is None and args.sweep is None and args.quality is None and not args.posterize
    if not plain or args.colors is None or not 0 <= args.seed < 2**64 or is_stdio(args.input):
        return None
    if not (args.output == "-" or args.output.lower().endswith(".png")):
        return None
    made = _core.palette_png(
        read_file(args.input),
        args.colors,
        args.seed,
        args.color_space,
        args.method,
        None,
        0.0,
        args.dither,
        PALETTE_PNG_LEVEL,
        PILLOW_MAX_PIXELS,
    )
    if made is None:
        return None
    data, colours, sse, count = made
    if not _write_or_skip(args, data):
        return EXIT_LARGER
    summary(args, lambda: f"{out_name(args.output)}: {colours} colours, {_psnr_of_sse(sse, count)}")
    return 0


def _psnr_of_sse(sse: int, count: int) -> str:
    """The summary's "PSNR 34.71 dB" from a summed squared error over ``count`` values (as :func:`psnr_text`)."""
    import math

    return "PSNR inf dB" if sse == 0 else f"PSNR {10 * math.log10(255.0**2 * count / sse):.2f} dB"


def _indexed_output(path: str) -> bool:
    """Whether ``path`` names an indexed output: PNG, GIF, or standard output (PNG)."""
    return path == "-" or path.lower().endswith((".png", ".gif", ".apng"))


def _palette_from(
    path: str, colors: object, color_space: str, method: str, seed: int, alpha: str = "palette"
) -> object:
    """The palette of ``path``: an indexed image's own (up to the highest index it uses; RGBA when it has
    transparency and ``alpha`` is ``"palette"``), or with ``colors`` the k-means palette of any image qfast reads."""
    import io

    import numpy as np
    from PIL import Image

    from .. import palette
    from .._io import CliError, read_file, read_image

    if colors is not None:
        return palette.kmeans_palette(
            read_image(path), colors, color_space=color_space, method=method, seed=seed, alpha=alpha
        )
    data = read_file(path)
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            mode, entries, used = im.mode, im.getpalette("RGB") or [], im.getcolors(256)
            transparency = im.info.get("transparency")
    except Exception as e:  # Pillow's errors for files it cannot read
        raise CliError(f"--palette-from: {path}: cannot read image ({e})") from None
    if mode not in ("P", "PA") or not entries:
        raise CliError(
            f"--palette-from: {path} is not an indexed image (mode {mode}); add --colors K to take K k-means "
            "colours from it"
        )
    count = max(i for _, i in used) + 1 if used and mode == "P" else len(entries) // 3
    rgb = np.asarray(entries[: 3 * count], np.uint8).reshape(-1, 3)
    if alpha != "palette" or transparency is None:
        return rgb
    a = np.full(len(rgb), 255, np.uint8)
    if isinstance(transparency, (bytes, bytearray)):
        t = np.frombuffer(bytes(transparency), np.uint8)[: len(a)]
        a[: len(t)] = t
    elif isinstance(transparency, int) and 0 <= transparency < len(a):
        a[transparency] = 0
    return np.column_stack([rgb, a])
