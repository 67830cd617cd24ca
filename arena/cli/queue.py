"""``arena queue``: give an annotator a queue of pairs to judge, and their private link.

The link (``BASE/?annotate=TOKEN``) is printed once, when the annotator's first queue is made
or with ``--new-link`` (which voids the old one): only a keyed hash of the token is kept."""
from __future__ import annotations

from arena.cli import InputError
from arena.cli.output import add_format_option, emit

FALLBACK = "http://127.0.0.1:7860"
COLUMNS = ("annotator", "task", "added", "total", "done", "skipped", "pending", "gold", "repeats", "url")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "queue", help="give an annotator a queue of pairs (Annotate tab) and print its link",
        description="Issue --size pairs of --task to an annotator, in order, through the same "
                    "path as public votes (planted checks included), and print the queue's "
                    "progress and, the first time, the private link the annotator opens (the "
                    "id alone opens nothing). Running it again for the same annotator adds to "
                    "the end of their queue (same link); --new-link issues a new link and voids "
                    "the old one; --size 0 only prints the progress. Uses the database named "
                    "by $DATABASE_URL.")
    p.add_argument("--annotator", metavar="ID",
                   help="annotator id, 8-64 letters, digits, '-' or '_' (default: a new random id)")
    p.add_argument("--task", default="any", help="task to draw pairs from (default: any task)")
    p.add_argument("--size", type=int, default=50,
                   help="pairs to add (default 50; 0: add nothing, print the progress)")
    p.add_argument("--base-url", "--url", dest="url", default=None, metavar="BASE",
                   help="address annotators open the arena at, for the link (default: "
                        f"$ARENA_PUBLIC_URL, else {FALLBACK}, with a warning)")
    p.add_argument("--new-link", action="store_true",
                   help="issue a new private link for the annotator (the old one stops working)")
    add_format_option(p)
    p.set_defaults(run=run)


def _fraction(k: int, n: int) -> str:
    return f"{k}/{n}" if n else ""


def base_url(given: str | None) -> tuple[str, str | None]:
    """The arena's public address for the link, and a warning when it is only a guess."""
    import os

    if given:
        return given, None
    public = os.environ.get("ARENA_PUBLIC_URL", "").strip()
    if public:
        return public, None
    return FALLBACK, (f"the link assumes the arena is at {FALLBACK}; pass --base-url or set "
                      "ARENA_PUBLIC_URL to the address annotators open")


def run(args) -> int:
    import secrets
    import sys

    from arena.collect import annotator_links
    from arena.collect.annotation import AnnotationError, create_queue, progress, queue_url
    from arena.context import Arena

    if args.size < 0:
        raise InputError("--size must be 0 or more")
    annotator = args.annotator if args.annotator is not None else f"annotator-{secrets.token_hex(6)}"
    arena = Arena.open()
    try:
        if args.size:
            created = create_queue(arena, annotator, args.task, args.size)
            state, added, first = created.progress, created.added, created.first_number
        else:
            state, added, first = progress(arena, annotator), 0, None
    except AnnotationError as exc:
        raise InputError(str(exc)) from None
    url = None
    if args.new_link or not annotator_links.has_link(arena, state.annotator):
        base, warning = base_url(args.url)
        if warning:
            print(f"arena queue: note: {warning}", file=sys.stderr)
        url = queue_url(annotator_links.issue(arena, state.annotator), base)
    else:
        print(f"arena queue: note: {state.annotator} has a private link already (printed when "
              "their first queue was made); --new-link issues a new one", file=sys.stderr)
    task = args.task if args.size else None
    data = {"annotator": state.annotator, "task": task, "added": added, "first_item": first,
            "queue": state.as_dict(), "url": url}
    row = {"annotator": state.annotator, "task": task, "added": added, "total": state.total,
           "done": state.done, "skipped": state.skipped, "pending": state.pending,
           "gold": _fraction(state.gold_right, state.gold_decisive),
           "repeats": _fraction(state.repeat_same, state.repeat_pairs), "url": url}
    emit(data, args.format, [row], COLUMNS)
    return 0
