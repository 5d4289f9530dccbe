"""``qfast palette``: reduce an image to K colours and write an indexed PNG or GIF (or an animated sweep of K)."""

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
    p.add_argument(
        "--palette-from",
        metavar="IMAGE",
        help="palette transfer: remap IN onto IMAGE's palette (an indexed PNG or GIF; or, with --colors K, any image: "
        "its K k-means colours)",
    )
    add_force(p)
    add_quiet(p)
    p.set_defaults(run=_run_palette)


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


def options(args: argparse.Namespace) -> dict:
    """The keyword options of :func:`qfast._ops.palette_file` (``qfast batch palette``) from parsed arguments
    (``shared`` aside)."""
    ks = None if args.sweep is None else ([args.sweep] if isinstance(args.sweep, int) else args.sweep)
    return {
        "colors": args.colors,
        "sweep": ks,
        "dither": args.dither,
        "color_space": args.color_space,
        "method": args.method,
        "seed": args.seed,
        "duration": args.duration,
    }


def _run_palette(args: argparse.Namespace) -> int:
    from .. import palette
    from .._io import CliError, check_writable, encode_image, refuse_lossy, write_bytes

    refuse_lossy(args.output)
    check_writable(args.output, args.force)
    if args.colors is not None and not 1 <= args.colors <= 256 and _indexed_output(args.output):
        more = "; write .tif, .bmp or .webp for the full-colour result of a larger palette" if args.colors > 256 else ""
        raise CliError(f"--colors: expected 1..256 for an indexed PNG or GIF, got {args.colors}{more}")
    img = read_image(args.input)
    kw = {"dither": args.dither, "color_space": args.color_space, "method": args.method, "seed": args.seed}
    if args.palette_from is not None:
        if args.sweep is not None:
            raise CliError("--palette-from: not with --sweep (one palette, one image)")
        pal = _palette_from(args.palette_from, args.colors, args.color_space, args.method, args.seed)
        idx = palette.remap(img, pal, dither=args.dither, color_space=args.color_space)
        q = palette.ColorQuantization(pal, idx, img)
        write_bytes(args.output, encode_image(q.to_pil(), args.output, **_png_args(args.output)), args.force)
        summary(
            args,
            f"{out_name(args.output)}: {len(pal)} colours from {args.palette_from}, {psnr_text(img, q.image())}",
        )
        return 0
    if args.colors is None and args.sweep is None:
        raise CliError("give --colors K, --sweep K,K,... or --palette-from IMAGE")
    if args.colors is not None:
        q = palette.quantize_colors(img, args.colors, **kw)
        # More than 256 colours do not fit an indexed image: the other formats get the colours themselves.
        out = q.to_pil() if len(q.palette) <= 256 else q.image()
        write_bytes(args.output, encode_image(out, args.output, **_png_args(args.output)), args.force)
        summary(args, f"{out_name(args.output)}: {len(q.palette)} colours, {psnr_text(img, q.image())}")
        return 0
    ks = [args.sweep] if isinstance(args.sweep, int) else args.sweep
    frames = [palette.quantize_colors(img, k, **kw).to_pil() for k in ks]
    # Each frame keeps its own palette; every frame is stored whole (no frame differencing across palettes).
    data = encode_image(
        frames[0],
        args.output,
        save_all=True,
        append_images=frames[1:],
        duration=max(args.duration, 10),
        loop=0,
        optimize=False,
    )
    write_bytes(args.output, data, args.force)
    summary(args, f"{out_name(args.output)}: {len(frames)} frames, palettes of {', '.join(map(str, ks))} colours")
    return 0


#: zlib level of palette PNGs. Pillow writes indexed rows unfiltered (what suits palette images); on Kodak at 256
#: colours (measured on a loaded machine) level 3 took about half the CPU time of the default 6 for files 0.5% larger,
#: level 9 and ``optimize`` about 1.5x the time of 6 for 0.1% smaller.
PNG_COMPRESS_LEVEL = 3


def _png_args(path: str) -> dict:
    """Pillow's save options for ``path``: the zlib level for a PNG (standard output included), none otherwise."""
    return {"compress_level": PNG_COMPRESS_LEVEL} if path == "-" or path.lower().endswith(".png") else {}


def _indexed_output(path: str) -> bool:
    """Whether ``path`` names an indexed output: PNG, GIF, or standard output (PNG)."""
    return path == "-" or path.lower().endswith((".png", ".gif", ".apng"))


def _palette_from(path: str, colors: object, color_space: str, method: str, seed: int) -> object:
    """The palette of ``path``: an indexed image's own (up to the highest index it uses), or with ``colors`` the
    k-means palette of any image qfast reads."""
    import io

    import numpy as np
    from PIL import Image

    from .. import palette
    from .._io import CliError, read_file, read_image

    if colors is not None:
        return palette.kmeans_palette(read_image(path), colors, color_space=color_space, method=method, seed=seed)
    data = read_file(path)
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            mode, entries, used = im.mode, im.getpalette("RGB") or [], im.getcolors(256)
    except Exception as e:  # Pillow's errors for files it cannot read
        raise CliError(f"--palette-from: {path}: cannot read image ({e})") from None
    if mode not in ("P", "PA") or not entries:
        raise CliError(
            f"--palette-from: {path} is not an indexed image (mode {mode}); add --colors K to take K k-means "
            "colours from it"
        )
    count = max(i for _, i in used) + 1 if used and mode == "P" else len(entries) // 3
    return np.asarray(entries[: 3 * count], np.uint8).reshape(-1, 3)
