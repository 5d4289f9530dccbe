"""The dashboard's commands: ``qfast serve`` (the Panel app) and ``qfast report`` (an offline HTML report).

Panel is imported only when ``serve`` runs; ``report`` needs only NumPy and Pillow.
"""

from __future__ import annotations

import argparse
import sys

from .._io import CliError
from ._args import add_force, add_quiet, out_name, summary


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``serve`` and ``report`` to the subcommands."""
    _add_serve(sub)
    _add_report(sub)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="start the dashboard (a web page that shows what quantization does)",
        description="Serve the qfast dashboard on this machine's loopback address. Needs Panel: "
        "pip install 'panel>=1.5' (or pip install '.[dashboard]' in a checkout).",
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
        raise CliError("the dashboard needs Panel: pip install 'panel>=1.5'") from None
    from ..dashboard.app import free_port, serve

    port = args.port or free_port()  # 0: the free port is chosen here, so the line below names the real one
    print(f"qfast dashboard on http://127.0.0.1:{port}/ (Ctrl+C stops it)", file=sys.stderr, flush=True)
    serve(port, show=args.show)
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of what quantization does to an image",
        description="Quantize IN as the dashboard would and write a single HTML file (images inline, no network "
        "needed) with the comparison, error map, histograms, ladder and rate-distortion plot.",
    )
    p.add_argument(
        "input", metavar="IN", help="image file: PNG, JPEG, WebP, TIFF, or a .qfz file; - for standard input"
    )
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="HTML file to write; - for standard output")
    p.add_argument(
        "--method",
        choices=["uniform", "lloyd-max", "mu-law", "palette"],
        default="uniform",
        help="the quantizer the report shows (default uniform; palette: k-means colours)",
    )
    p.add_argument("--bits", type=int, default=4, help="bits per channel, 1..8 (default 4)")
    p.add_argument(
        "--colors", type=int, default=None, help="--method palette only: palette size K, 2..256 (default 16)"
    )
    add_force(p)
    add_quiet(p)
    p.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .._io import check_writable, read_file, write_bytes
    from ..dashboard import report
    from ..dashboard.settings import FeatureUnavailable, Settings, UploadError
    from ..dashboard.upload import load_upload

    if args.colors is not None and args.method != "palette":
        raise CliError(f"--colors: only with --method palette (got --method {args.method})")
    if args.colors is not None and not 2 <= args.colors <= 256:
        raise CliError(f"--colors: expected 2..256, got {args.colors}")
    check_writable(args.output, args.force)
    data = read_file(args.input)
    name = "standard input" if args.input == "-" else Path(args.input).name
    try:
        # a local file: the dashboard's upload limits (25 MB, 40 MP) are for a server, not for this machine
        img, note = load_upload(str(args.input), data, max_bytes=len(data), max_pixels=2**62)
        settings = Settings(method=args.method, bits=args.bits, k=args.colors or 16)
        html = report.build_report(img, settings, name=name, note=note)
    except (UploadError, FeatureUnavailable) as e:
        raise CliError(str(e)) from e
    write_bytes(args.output, html.encode("utf-8"), args.force)
    summary(args, f"{out_name(args.output)}: report on {name} ({settings.label()})")
    return 0
