"""The ``qfast`` command line: the dispatcher. Each command family is a module of this package.

The families, in the order ``qfast --help`` lists their commands: :mod:`.quantize` (``quantize``), :mod:`.demo`
(``demo``), :mod:`.dashboard` (``serve``, ``report``), :mod:`.codec` (``encode``, ``decode``, ``info``),
:mod:`.palette` (``palette``), :mod:`.corrector` (``correct``) and :mod:`.batch` (``batch``: the single-file
commands over many files). Each has ``register(sub)``, adding its subparsers (with ``set_defaults(run=...)``);
the libraries a command needs are imported when it runs, so starting the CLI stays quick.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Optional

from .. import __version__
from .._io import CliError
from . import batch, codec, corrector, dashboard, demo, palette, quantize

#: The command families, in help order; each module's ``register(sub)`` adds its subcommands.
FAMILIES = (quantize, demo, dashboard, codec, palette, corrector, batch)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``qfast`` command."""
    parser = argparse.ArgumentParser(
        prog="qfast",
        description="Fast, measurable image quantization.",
        epilog="Run 'qfast COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"qfast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for family in FAMILIES:
        family.register(sub)
    return parser


def _subparser(parser: argparse.ArgumentParser, command: Optional[str]) -> Optional[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return None


#: API argument names whose flag is not the name with dashes.
FLAG_OF = {"k": "--colors", "name": "--sample", "correct": "--no-corrector"}


def in_flag_words(message: str, sub: Optional[argparse.ArgumentParser]) -> str:
    """An API error (``max_error: expected 0..32, got 99``) in the words of the command's flag (``--max-error: ...``)
    where the argument it names is one; other messages unchanged."""
    m = re.match(r"(\w+)(\[\d+\])?: ", message)
    if not m or sub is None:
        return message
    flag = FLAG_OF.get(m.group(1), "--" + m.group(1).replace("_", "-"))
    if flag not in sub._option_string_actions:
        return message
    return flag + message[m.end(1) :]


def main(argv: Optional[list[str]] = None) -> int:
    """Runs the ``qfast`` command line; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    sub = _subparser(parser, getattr(args, "command", None))
    if extra:  # the command's own usage, not the top level's
        (sub or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except CliError as e:
        print(f"qfast: error: {e}", file=sys.stderr)
        return 1
    except (TypeError, ValueError) as e:
        print(f"qfast: error: {in_flag_words(str(e), sub)}", file=sys.stderr)
        return 1
    except MemoryError:
        print("qfast: error: out of memory", file=sys.stderr)
        return 1
    except OSError as e:  # a file error that no command turned into a CliError: still one line
        where = f"{e.filename}: " if e.filename else ""
        print(f"qfast: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
