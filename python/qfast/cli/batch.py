"""``qfast batch``: the single-file commands over many files, a thin layer over :func:`qfast.batch.run`.

``qfast batch {quantize,palette,encode,decode} SRC... -o OUTDIR [the command's own options] [--workers N]``: each
subcommand takes the options of its single-file command (added by that command's module, so they never drift), and
the batch options: workers, force, format, manifest, quiet, and a Dask scheduler.
"""

from __future__ import annotations

import argparse
import sys

from . import codec, palette, quantize

#: Each batch subcommand: a help line, the function adding its options, the one reading them back.
_COMMANDS = {
    "quantize": ("quantize image files to a few levels per channel", quantize.add_options, quantize.options),
    "palette": (
        "reduce image files to K colours (each its own palette, or --shared K: one for all)",
        lambda p: palette.add_options(p, shared=True, required=False),  # --quality alone is a size too
        palette.options,
    ),
    "encode": ("compress image files into .qfz files", codec.add_encode_options, codec.encode_options),
    "decode": ("decompress .qfz files into image files", codec.add_decode_options, codec.decode_options),
}


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``batch`` (with one subcommand per single-file command) to the subcommands."""
    p = sub.add_parser(
        "batch",
        help="run quantize, palette, encode or decode over many files (folders, globs), in parallel, resumable",
        description="Run a single-file command over files, folders (walked recursively) and glob patterns, on all "
        "cores. Outputs mirror the sources' trees under OUTDIR; outputs newer than their inputs are skipped (--force "
        "redoes them); a file that fails is recorded in OUTDIR/qfast-batch.jsonl and the rest goes on (exit status 1 "
        "if any failed).",
    )
    bsub = p.add_subparsers(
        dest="batch_command", metavar="COMMAND", required=True, help="the single-file command to run on every file"
    )
    for name, (helptext, add, _) in _COMMANDS.items():
        c = bsub.add_parser(name, help=helptext, description=f"qfast batch {name}: {helptext}.")
        c.add_argument("sources", nargs="+", metavar="SRC", help="files, folders or glob patterns (quote them)")
        c.add_argument("-o", "--output", metavar="OUTDIR", required=True, help="the output folder (made if missing)")
        add(c)
        g = c.add_argument_group("batch options")
        g.add_argument("--workers", type=int, metavar="N", help="worker processes (default: the cores; 0: in this one)")
        g.add_argument("--force", action="store_true", help="redo outputs that are up to date")
        g.add_argument("--format", metavar="EXT", help="output format (e.g. png, gif, webp), else the command's own")
        g.add_argument("--manifest", choices=["jsonl", "csv", "none"], default="jsonl", help="OUTDIR/qfast-batch.*")
        g.add_argument("--no-metrics", action="store_true", help="skip PSNR and SSIM against the input")
        g.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary")
        g.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            help="run on a Dask cluster (tcp://host:8786; needs the dask extra: pip install '.[dask]') instead of "
            "local processes",
        )
        c.set_defaults(run=_run_batch)


def _run_batch(args: argparse.Namespace) -> int:
    from .. import batch
    from .._io import CliError

    name = args.batch_command
    options = _COMMANDS[name][2](args)
    options = {k: v for k, v in options.items() if v is not None and v is not False}
    shared = getattr(args, "shared", None)
    client = None
    if args.scheduler:
        from ..dask import connect

        try:
            client = connect(args.scheduler)
        except (OSError, TimeoutError, ImportError) as e:
            raise CliError(str(e)) from e
    try:
        report = batch.run(
            name,
            args.sources,
            args.output,
            workers=args.workers,
            client=client,
            force=args.force,
            format=args.format,
            metrics=not args.no_metrics,
            manifest=None if args.manifest == "none" else args.manifest,
            quiet=args.quiet,
            progress_stream=sys.stderr,
            shared=shared,
            **options,
        )
    finally:
        if client is not None:
            client.close()
    return report.exit_code
