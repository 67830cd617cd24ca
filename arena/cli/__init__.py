"""``python -m arena COMMAND``: one module per command, each with ``add_parser`` and ``run``.

Command modules import heavy libraries (gradio, torch, the database) inside ``run`` only, so
``arena rank --votes FILE`` starts fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("serve", "demo", "rank", "models", "export", "generate", "import_", "metrics", "voters", "simulate", "pareto", "compare", "queue", "plan", "organiser")


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
    except Exception as exc:  # noqa: BLE001 - known input errors become one line
        if isinstance(exc, _known_errors()):
            print(f"arena {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise
