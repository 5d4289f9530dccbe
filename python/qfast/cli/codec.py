"""The ``.qfz`` codec's commands: ``qfast encode``, ``qfast decode`` and ``qfast info``."""

from __future__ import annotations

import argparse

from .._io import CliError, read_image, write_image
from ._args import IMAGE_IN, _levels_arg, add_force, add_quiet, out_name, summary


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``encode``, ``decode`` and ``info`` to the subcommands."""
    _add_encode(sub)
    _add_decode(sub)
    _add_info(sub)


def _add_encode(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode",
        help="compress an image file into a .qfz file",
        description="Compress IN into a .qfz file: with --max-error D every value decodes within D of the original "
        "(0 is lossless; where the corrector is installed the bins are a little narrower than 2D+1, so on decode it "
        "can raise PSNR inside the bound); with --levels L each channel keeps L levels (decoded through the "
        "corrector where one is installed).",
    )
    p.add_argument("input", metavar="IN", help=IMAGE_IN)
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="the .qfz file to write; - for standard output")
    add_encode_options(p)
    add_force(p)
    add_quiet(p)
    p.set_defaults(run=_run_encode)


def add_encode_options(p: argparse.ArgumentParser) -> None:
    """Adds the options of ``encode`` that ``qfast batch encode`` shares."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--max-error", type=_levels_arg, metavar="D", help="max error per channel, 0..32 (0: lossless)")
    g.add_argument("--levels", type=_levels_arg, metavar="L", help="levels per channel, 2..256 (one, or 8,8,4)")
    g.add_argument("--target-bpp", type=float, metavar="BPP", help="levels mode: the most levels within BPP")
    p.add_argument(
        "--color",
        choices=["auto", "rgb", "ycocg", "ycbcr"],
        default="auto",
        help="colour transform: auto (default: ycocg, exact; ycbcr with --subsample), rgb (none), ycocg, or ycbcr "
        "(levels mode only: JPEG's, not exact)",
    )
    p.add_argument("--subsample", action="store_true", help="levels mode: 4:2:0 chroma (implies --color ycbcr)")
    p.add_argument(
        "--effort",
        type=int,
        default=2,
        help="0 the fast coder (Golomb-Rice, all cores), 1 Brotli, 2 arithmetic coder (default), 3 the stronger QAC2, "
        "4 the strongest QAC3 (3 and 4 also try RGB)",
    )
    p.add_argument(
        "--no-corrector",
        action="store_true",
        help="record no corrector (with --max-error: bins of 2D+1 values, the smallest file for the bound)",
    )
    p.add_argument(
        "--no-strength-map",
        action="store_true",
        help="skip the encoder's check of the corrector (per 64-pixel tile: all, half or none of its change, so no "
        "tile decodes worse than mid-bin); faster encode, decode applies the corrector everywhere",
    )


def encode_options(args: argparse.Namespace) -> dict:
    """The keyword options of :func:`qfast._ops.encode_file` (``qfast batch encode``) from parsed arguments."""
    names = ("max_error", "levels", "target_bpp", "color", "subsample", "effort", "no_corrector", "no_strength_map")
    return {n: getattr(args, n) for n in names}


def add_decode_options(p: argparse.ArgumentParser) -> None:
    """Adds the options of ``decode`` that ``qfast batch decode`` shares."""
    p.add_argument(
        "--no-corrector",
        "--no-correct",
        dest="no_correct",
        action="store_true",
        help="decode without the QANN corrector, the plain mid-bin values (--no-correct is the old name)",
    )


def decode_options(args: argparse.Namespace) -> dict:
    """The keyword options of :func:`qfast._ops.decode_file` (``qfast batch decode``) from parsed arguments."""
    return {"no_correct": args.no_correct}


def _run_encode(args: argparse.Namespace) -> int:
    from .. import codec
    from .._io import check_writable, write_bytes

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
        strength_map=not args.no_strength_map,
    )
    write_bytes(args.output, data, args.force)
    h = codec.inspect(data)
    summary(
        args, f"{out_name(args.output)}: {h['file_bytes']:,} bytes, {h['bpp']:.3f} bpp ({h['mode']}, {_bound_text(h)})"
    )
    return 0


def _in_name(path: str) -> str:
    return "standard input" if path == "-" else path


def _bound_text(h: dict) -> str:
    """The max error that holds for the decode the user gets (``qfast decode``, with the corrector where the file
    names one), and the one without it where that differs."""
    if h["bound"] is None:
        return "no max error: YCbCr levels mode bounds no RGB value"
    text = f"max error {h['bound']}"
    if h["bound_plain"] != h["bound"]:
        text += f"; {h['bound_plain']} without the corrector"
    return text


def _add_decode(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decode",
        help="decompress a .qfz file into an image file",
        description="Decompress IN.qfz and write the image to OUT (format from OUT's extension).",
    )
    p.add_argument("input", metavar="IN.qfz", help="the .qfz file; - for standard input")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        required=True,
        help="output image file, format from the extension: PNG, WebP, TIFF, BMP, GIF (up to 256 colours) "
        "or JPEG (lossy); - for PNG on standard output",
    )
    add_decode_options(p)
    add_force(p)
    add_quiet(p)
    p.set_defaults(run=_run_decode)


def _read_qfz(path: str) -> bytes:
    from .._io import read_file

    return read_file(path)


def _run_decode(args: argparse.Namespace) -> int:
    from .. import codec
    from .._io import check_writable

    check_writable(args.output, args.force)
    data = _read_qfz(args.input)
    try:
        img = codec.decode(data, correct=False if args.no_correct else None)
    except codec.FormatError as e:
        raise CliError(f"{_in_name(args.input)}: {e}") from e
    except MemoryError:
        raise CliError(f"{_in_name(args.input)}: out of memory decoding it") from None
    write_image(img, args.output, force=args.force)
    h = codec.inspect(data)
    how = "without the corrector" if args.no_correct or h["corrector"] is None else "through the corrector it names"
    summary(args, f"{out_name(args.output)}: {h['width']} x {h['height']}, {h['channels']} channel(s), decoded {how}")
    return 0


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print a .qfz file's header", description="Check IN.qfz and print its header.")
    p.add_argument("input", metavar="IN.qfz", help="the .qfz file; - for standard input")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="check the header and print nothing (the exit status tells)"
    )
    p.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from .. import codec

    try:
        h = codec.inspect(_read_qfz(args.input))
    except codec.FormatError as e:
        raise CliError(f"{_in_name(args.input)}: {e}") from e
    if args.quiet:
        return 0
    for k, v in h.items():
        if k == "strength_map" and v is not None:  # a summary, not the array
            n = [int((v == c).sum()) for c in (2, 1, 0)]
            v = f"{v.shape[1]} x {v.shape[0]} tiles: {n[0]} full, {n[1]} half, {n[2]} none"
        print(f"{k:<14}{v:.3f}" if isinstance(v, float) else f"{k:<14}{v}")
    return 0
