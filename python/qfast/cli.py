"""The ``qfast`` command line: ``qfast quantize``, ``qfast demo`` and the commands later modules register."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional

from . import __version__
from ._io import CliError, read_image, write_image

#: Subcommands: name -> function adding its parser to the subparsers object.
_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def command(add: Callable[[argparse._SubParsersAction], None]) -> Callable[[argparse._SubParsersAction], None]:
    """Registers a function that adds one subcommand (with ``set_defaults(run=...)``) to the CLI."""
    _COMMANDS.append(add)
    return add


def _levels_arg(text: str) -> list[int] | int:
    try:
        parts = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or comma-separated ints, got {text!r}") from None
    return parts[0] if len(parts) == 1 else parts


@command
def _add_quantize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quantize",
        help="quantize an image file to a few levels per channel",
        description="Quantize IN to a few levels per channel and write the reconstruction to OUT "
        "(format from OUT's extension).",
    )
    p.add_argument("input", metavar="IN", help="image file (PNG, JPEG, WebP, TIFF, ...)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output image file")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--levels", type=_levels_arg, help="levels per channel, 2..256 (one, or one per channel: 8,8,4)")
    g.add_argument("--bits", type=_levels_arg, help="bits per channel, 1..8 (levels = 2**bits)")
    p.add_argument("--method", choices=["uniform", "lloyd-max", "mu-law"], default="uniform")
    p.add_argument("--reconstruction", choices=["midpoint", "full-range"], default="midpoint",
                   help="uniform only: bin middles (least error) or 0..255 end to end")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(run=_run_quantize)


def _run_quantize(args: argparse.Namespace) -> int:
    from . import quantize

    img = read_image(args.input)
    kw = {"levels": args.levels, "bits": args.bits}
    if args.method == "uniform":
        out = quantize.quantize_uniform(img, reconstruction=args.reconstruction, **kw)
    elif args.method == "lloyd-max":
        out = quantize.quantize_lloyd_max(img, **kw).image()
    else:
        out = quantize.quantize_mu_law(img, **kw).image()
    write_image(out, args.output, force=args.force)
    return 0


@command
def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="quantize a bundled sample photo several ways and print what each costs",
        description="Quantize a bundled sample photo at several levels and methods, print PSNR, SSIM and packed "
        "size, and write a side-by-side comparison image.",
    )
    p.add_argument("-o", "--output", metavar="OUT", default="qfast-demo.png",
                   help="comparison image to write (default qfast-demo.png; a free name is chosen if it exists)")
    p.add_argument("--sample", default="parrots", help="which bundled sample (default parrots)")
    p.set_defaults(run=lambda a: __import__("qfast.demo", fromlist=["run"]).run(a.output, a.sample))


@command
def _add_palette(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "palette",
        help="reduce an image to K colours and write an indexed PNG or GIF",
        description="Reduce IN to a palette of K colours (k-means) and write an indexed (palette) image to OUT, PNG "
        "or GIF by extension. With --sweep, write an animated GIF (or PNG) stepping through several palette sizes.",
    )
    p.add_argument("input", metavar="IN", help="image file (PNG, JPEG, WebP, TIFF, ...)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output file (.png or .gif)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--colors", type=int, metavar="K", help="palette size, 1..256")
    g.add_argument("--sweep", type=_levels_arg, metavar="K,K,...",
                   help="palette sizes for an animation, e.g. 1,5,10,20,40")
    p.add_argument("--dither", choices=["none", "floyd-steinberg", "atkinson", "bayer4", "bayer8"], default="none")
    p.add_argument("--color-space", choices=["rgb", "oklab"], default="rgb", help="where distances are measured")
    p.add_argument("--method", choices=["kmeans", "median-cut", "kmeans++"], default="kmeans",
                   help="kmeans (best), median-cut (fastest) or kmeans++ (seeded by --seed)")
    p.add_argument("--seed", type=int, default=0, help="seed of kmeans++ (default 0)")
    p.add_argument("--duration", type=int, default=800, help="--sweep: milliseconds per frame (default 800)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(run=_run_palette)


def _run_palette(args: argparse.Namespace) -> int:
    from . import palette
    from ._io import check_writable, encode_image, write_bytes

    check_writable(args.output, args.force)
    img = read_image(args.input)
    kw = {"dither": args.dither, "color_space": args.color_space, "method": args.method, "seed": args.seed}
    if args.colors is not None:
        q = palette.quantize_colors(img, args.colors, **kw)
        write_bytes(args.output, encode_image(q.to_pil(), args.output), args.force)
        return 0
    ks = [args.sweep] if isinstance(args.sweep, int) else args.sweep
    frames = [palette.quantize_colors(img, k, **kw).to_pil() for k in ks]
    # Each frame keeps its own palette; every frame is stored whole (no frame differencing across palettes).
    data = encode_image(frames[0], args.output, save_all=True, append_images=frames[1:],
                        duration=max(args.duration, 10), loop=0, optimize=False)
    write_bytes(args.output, data, args.force)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``qfast`` command."""
    parser = argparse.ArgumentParser(
        prog="qfast",
        description="Fast, measurable image quantization.",
        epilog="Run 'qfast COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"qfast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """Runs the ``qfast`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except CliError as e:
        print(f"qfast: error: {e}", file=sys.stderr)
        return 1
    except (TypeError, ValueError) as e:
        print(f"qfast: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
