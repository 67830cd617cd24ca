"""``python -m arena COMMAND``: one module per command, each with ``add_parser`` and ``run``.

Command modules import heavy libraries (gradio, torch, the database) inside ``run`` only, so
``arena rank --votes FILE`` starts fast. Bad input exits 2 with one line; any other error
prints one line too and exits 1 (``ARENA_DEBUG=1`` shows its traceback instead).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = ("serve", "demo", "rank", "models", "export", "generate", "import_", "metrics", "voters", "simulate", "pareto", "compare", "queue", "campaign", "plan", "organiser")


class InputError(Exception):
    """Bad input to a command: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="arena", description="Pareto Arena: judge image-editing models by human preference.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"arena.cli.{name}").add_parser(sub)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    from arena.files.battles import BattleFileError
    from arena.store.media import ImageInputError

    errors: list[type[BaseException]] = [InputError, BattleFileError, ImageInputError]
    for module, name in (("scoring.errors", "ScoringError"), ("arena.store.catalog", "UnknownError"),
                         ("models.base", "EditError")):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line
        if isinstance(exc, _known_errors()):
            print(f"arena {args.command}: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        if os.environ.get("ARENA_DEBUG"):
            raise
        print(f"arena {args.command}: failed: {type(exc).__name__}: {_one_line(exc)} "
              "(ARENA_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    """An error's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__
