"""``arena campaign create|status|export|link|list``: annotation campaigns (see
:mod:`arena.collect.campaigns` and :mod:`arena.views.campaign_status`)."""
from __future__ import annotations

import sys

from arena.cli import InputError
from arena.cli.output import FORMATS, emit
from arena.cli.queue import FALLBACK, base_url

STATUS_COLUMNS = ("annotator", "done", "assigned", "skipped", "agreement_with_majority",
                  "gold_accuracy", "repeats", "repeat_same", "seconds_per_item", "flagged", "reasons")


def _format(p, default: str) -> None:
    p.add_argument("--format", choices=FORMATS, default=default, help=f"output format (default {default})")


def _base(p) -> None:
    p.add_argument("--base-url", "--url", dest="url", default=None, metavar="BASE",
                   help=f"address annotators open the arena at (default: $ARENA_PUBLIC_URL, else "
                        f"{FALLBACK}, with a warning)")


def add_parser(sub) -> None:
    p = sub.add_parser("campaign", help="annotation campaigns: create, status, export, link, list",
                       description="A campaign is a named set of pairs, each judged by --overlap "
                                   "annotators, with planted checks (repeats with the sides "
                                   "swapped, gold pairs). Uses the database named by $DATABASE_URL.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True,
                               parser_class=type(p))
    c = actions.add_parser("create", help="make a campaign and print each annotator's private link")
    c.add_argument("name", metavar="NAME")
    c.add_argument("--task", action="append", metavar="T",
                   help="task to draw pairs from (repeatable, or comma-separated)")
    c.add_argument("--pairs", type=int, default=None, metavar="N", help="pairs drawn per task")
    c.add_argument("--pairs-file", metavar="FILE",
                   help="pairs listed in a CSV, JSON or JSONL file (item, model_a, model_b[, task])")
    c.add_argument("--overlap", type=int, required=True, metavar="K",
                   help="annotators who judge each pair (1 to the number of annotators)")
    c.add_argument("--annotators", required=True, metavar="A,B,C", help="annotator names, comma-separated")
    c.add_argument("--repeats", type=float, default=0.1, metavar="SHARE",
                   help="share of each annotator's pairs shown again with the sides swapped (default 0.1)")
    c.add_argument("--gold", type=float, default=0.05, metavar="SHARE",
                   help="gold pairs per annotator, as a share of their pairs, where the task has "
                        "any (default 0.05)")
    c.add_argument("--seed", type=int, default=None, help="seed of the deal (default: random)")
    _base(c)
    _format(c, "table")
    c.set_defaults(run=run_create)

    s = actions.add_parser("status", help="progress, agreement, time per item and flagged annotators")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds of the intervals (default 1000)")
    _format(s, "json")
    s.set_defaults(run=run_status)

    e = actions.add_parser("export", help="write the campaign's labels in the battle format")
    e.add_argument("name", metavar="NAME")
    e.add_argument("output", metavar="FILE", help="file to write (.json, .jsonl, .csv, .parquet)")
    e.add_argument("--format", dest="file_format", choices=("json", "jsonl", "csv", "parquet"),
                   help="file format (default: from the extension)")
    e.set_defaults(run=run_export)

    k = actions.add_parser("link", help="issue a new private link for one annotator (the old one stops working)")
    k.add_argument("name", metavar="NAME")
    k.add_argument("--annotator", required=True, metavar="A")
    _base(k)
    _format(k, "table")
    k.set_defaults(run=run_link)

    ls = actions.add_parser("list", help="the campaigns and their progress")
    _format(ls, "table")
    ls.set_defaults(run=run_list)


def _links(args, tokens: dict[str, str]) -> dict[str, str]:
    from arena.collect.annotator_links import link

    base, warning = base_url(args.url)
    if warning:
        print(f"arena campaign: note: {warning}", file=sys.stderr)
    return {name: link(token, base) for name, token in tokens.items()}


def _arena():
    from arena.context import Arena

    return Arena.open()


def _errors():
    from arena.collect.annotation import AnnotationError
    from arena.views.campaign_labels import UnknownCampaignName

    return AnnotationError, UnknownCampaignName


def run_create(args) -> int:
    from arena.collect.campaigns import create_campaign

    tasks = [t for value in args.task or [] for t in value.split(",") if t.strip()]
    try:
        made = create_campaign(_arena(), args.name, tasks, args.pairs, overlap=args.overlap,
                               annotators=args.annotators, pairs_file=args.pairs_file,
                               repeat_share=args.repeats, gold_share=args.gold, seed=args.seed)
    except _errors() as exc:
        raise InputError(str(exc)) from None
    links = _links(args, made.tokens)
    if args.format == "table":
        width = max(len(n) for n in links)
        for name, url in links.items():
            print(f"{name.ljust(width)}  {url}")
        print(f"campaign {made.campaign}: {made.pairs} pairs x {made.overlap} annotators, "
              f"{made.gold} gold pair{'' if made.gold == 1 else 's'}; each link is shown once (arena campaign link "
              f"{made.campaign} --annotator NAME issues a new one)", file=sys.stderr)
        return 0
    rows = [{"annotator": n, "assigned": made.assigned[n], "link": url} for n, url in links.items()]
    emit({"campaign": made.campaign, "tasks": made.tasks, "pairs": made.pairs, "gold_pairs": made.gold,
          "overlap": made.overlap, "annotators": rows}, args.format, rows, ("annotator", "assigned", "link"))
    return 0


def run_status(args) -> int:
    from arena.views.campaign_status import campaign_status

    if args.rounds < 0:
        raise InputError("--rounds must be 0 or more")
    try:
        status = campaign_status(_arena(), args.name, rounds=args.rounds)
    except _errors() as exc:
        raise InputError(str(exc)) from None
    emit(status, args.format, status["annotators"], STATUS_COLUMNS)
    return 0


def run_export(args) -> int:
    from arena.files.battles import detect_format
    from arena.views.campaign_labels import export_labels

    fmt = detect_format(args.output, args.file_format)
    try:
        n = export_labels(_arena().engine, args.name, args.output, fmt)
    except _errors() as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"wrote {n} labels of campaign {args.name} to {args.output}")
    return 0


def run_link(args) -> int:
    from arena.collect.campaigns import new_link

    try:
        token = new_link(_arena(), args.name, args.annotator)
    except _errors() as exc:
        raise InputError(str(exc)) from None
    url = _links(args, {args.annotator: token})[args.annotator]
    if args.format == "table":
        print(f"{args.annotator}  {url}")
    else:
        emit({"campaign": args.name, "annotator": args.annotator, "link": url}, args.format,
             [{"annotator": args.annotator, "link": url}], ("annotator", "link"))
    return 0


def run_list(args) -> int:
    from arena.collect.campaigns import campaign_names
    from arena.views.campaign_status import campaign_status

    arena = _arena()
    rows = []
    for name in campaign_names(arena):
        s = campaign_status(arena, name, rounds=0)
        rows.append({"campaign": name, "task": s["task"], "pairs": s["pairs"], "overlap": s["overlap"],
                     "annotators": len(s["annotators"]), "done": s["done"], "assigned": s["assigned"]})
    emit({"campaigns": rows}, args.format, rows,
         ("campaign", "task", "pairs", "overlap", "annotators", "done", "assigned"))
    return 0
