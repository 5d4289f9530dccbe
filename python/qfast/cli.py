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
    p.add_argument(
        "--reconstruction",
        choices=["midpoint", "full-range"],
        default="midpoint",
        help="uniform only: bin middles (least error) or 0..255 end to end",
    )
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
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        default="qfast-demo.png",
        help="comparison image to write (default qfast-demo.png; a free name is chosen if it exists)",
    )
    p.add_argument("--sample", default="parrots", help="which bundled sample (default parrots)")
    p.set_defaults(run=lambda a: __import__("qfast.demo", fromlist=["run"]).run(a.output, a.sample))


@command
def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="start the dashboard (a web page that shows what quantization does)",
        description="Serve the qfast dashboard on this machine's loopback address. Needs the dashboard extra: "
        "pip install 'qfast[dashboard]'.",
    )
    p.add_argument("--port", type=int, default=5006, help="TCP port (default 5006; 0 picks a free one)")
    p.add_argument("--show", action="store_true", help="open the page in the default web browser")
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port: expected 0..65535, got {args.port}")
    try:
        import panel  # noqa: F401
    except ImportError:
        raise CliError("the dashboard needs Panel: pip install 'qfast[dashboard]'") from None
    from .dashboard.app import serve

    print(f"qfast dashboard on http://127.0.0.1:{args.port}/ (Ctrl+C stops it)", file=sys.stderr)
    serve(args.port, show=args.show)
    return 0


@command
def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of what quantization does to an image",
        description="Quantize IN as the dashboard would and write a single HTML file (images inline, no network "
        "needed) with the comparison, error map, histograms, ladder and rate-distortion plot.",
    )
    p.add_argument("input", metavar="IN", help="image file (PNG, JPEG, WebP, TIFF)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="HTML file to write")
    p.add_argument("--method", choices=["uniform", "lloyd-max", "mu-law", "palette"], default="uniform")
    p.add_argument("--bits", type=int, default=4, help="bits per channel, 1..8 (default 4)")
    p.add_argument("--colors", type=int, default=16, help="palette size K, 2..256 (palette method; default 16)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ._io import check_writable, write_bytes
    from .dashboard import compute, report

    check_writable(args.output, args.force)
    data = Path(args.input).read_bytes() if Path(args.input).is_file() else None
    if data is None:
        raise CliError(f"{args.input}: no such file")
    try:
        img, _ = compute.load_upload(str(args.input), data)
        settings = compute.Settings(method=args.method, bits=args.bits, k=args.colors)
        html = report.build_report(img, settings, name=Path(args.input).name)
    except (compute.UploadError, compute.FeatureUnavailable) as e:
        raise CliError(str(e)) from e
    write_bytes(args.output, html.encode("utf-8"), args.force)
    return 0


@command
def _add_encode(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode",
        help="compress an image file into a .qfz file",
        description="Compress IN into a .qfz file: with --max-error D every value decodes within D of the original "
        "(0 is lossless; where the corrector is installed the bins are a little narrower than 2D+1, so on decode it "
        "can raise PSNR inside the bound); with --levels L each channel keeps L levels (decoded through the "
        "corrector where one is installed).",
    )
    p.add_argument("input", metavar="IN", help="image file (PNG, JPEG, WebP, TIFF, ...)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="the .qfz file to write")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--max-error", type=_levels_arg, metavar="D", help="max error per channel, 0..32 (0: lossless)")
    g.add_argument("--levels", type=_levels_arg, metavar="L", help="levels per channel, 2..256 (one, or 8,8,4)")
    g.add_argument("--target-bpp", type=float, metavar="BPP", help="levels mode: the most levels within BPP")
    p.add_argument("--color", choices=["auto", "rgb", "ycocg", "ycbcr"], default="auto")
    p.add_argument("--subsample", action="store_true", help="levels mode: 4:2:0 chroma (implies --color ycbcr)")
    p.add_argument(
        "--effort", type=int, default=2, help="1 Brotli, 2 arithmetic coder (default), 3 the stronger QAC2, also RGB"
    )
    p.add_argument(
        "--no-corrector",
        action="store_true",
        help="record no corrector (with --max-error: bins of 2D+1 values, the smallest file for the bound)",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(run=_run_encode)


def _run_encode(args: argparse.Namespace) -> int:
    from . import codec
    from ._io import check_writable, write_bytes

    check_writable(args.output, args.force)
    img = read_image(args.input)
    data = codec.encode(
        img,
        max_error=args.max_error,
        levels=args.levels,
        target_bpp=args.target_bpp,
        color=args.color,
        subsample=args.subsample,
        effort=args.effort,
        corrector=None if args.no_corrector else "auto",
    )
    write_bytes(args.output, data, args.force)
    h = codec.inspect(data)
    print(f"{args.output}: {h['file_bytes']:,} bytes, {h['bpp']:.3f} bpp ({h['mode']}, max error {h['max_error']})")
    return 0


@command
def _add_decode(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decode",
        help="decompress a .qfz file into an image file",
        description="Decompress IN.qfz and write the image to OUT (format from OUT's extension).",
    )
    p.add_argument("input", metavar="IN.qfz", help="the .qfz file")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output image file (.png, .tif, ...)")
    p.add_argument("--no-correct", action="store_true", help="do not run the QANN corrector")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(run=_run_decode)


def _read_qfz(path: str) -> bytes:
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise CliError(f"{p}: no such file")
    return p.read_bytes()


def _run_decode(args: argparse.Namespace) -> int:
    from . import codec
    from ._io import check_writable

    check_writable(args.output, args.force)
    data = _read_qfz(args.input)
    try:
        img = codec.decode(data, correct=False if args.no_correct else None)
    except codec.FormatError as e:
        raise CliError(f"{args.input}: {e}") from e
    write_image(img, args.output, force=args.force)
    return 0


@command
def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print a .qfz file's header", description="Check IN.qfz and print its header.")
    p.add_argument("input", metavar="IN.qfz", help="the .qfz file")
    p.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from . import codec

    try:
        h = codec.inspect(_read_qfz(args.input))
    except codec.FormatError as e:
        raise CliError(f"{args.input}: {e}") from e
    for k, v in h.items():
        print(f"{k:<14}{v:.3f}" if isinstance(v, float) else f"{k:<14}{v}")
    return 0


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
    g.add_argument(
        "--sweep", type=_levels_arg, metavar="K,K,...", help="palette sizes for an animation, e.g. 1,5,10,20,40"
    )
    p.add_argument("--dither", choices=["none", "floyd-steinberg", "atkinson", "bayer4", "bayer8"], default="none")
    p.add_argument("--color-space", choices=["rgb", "oklab"], default="rgb", help="where distances are measured")
    p.add_argument(
        "--method",
        choices=["kmeans", "median-cut", "kmeans++"],
        default="kmeans",
        help="kmeans (best), median-cut (fastest) or kmeans++ (seeded by --seed)",
    )
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
