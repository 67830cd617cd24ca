"""``arena serve``: the web app (same as ``python app.py``)."""
from __future__ import annotations


def add_server_options(p) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--no-demo", action="store_true", help="do not build the demo set into an empty database")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="also run N processes for the HTTP API, image links and live rooms on "
                        "--api-port (default 1: one process serves everything)")
    p.add_argument("--api-port", type=int, default=None, metavar="PORT",
                   help="port of the API workers (default: --port + 1)")


def check_server_options(args) -> None:
    """Exit with a message on options that cannot work together."""
    if args.workers < 1:
        raise SystemExit("--workers must be 1 or more")
    if args.api_port is not None and args.workers == 1:
        raise SystemExit("--api-port needs --workers 2 or more")
    if args.api_port is not None and args.api_port == args.port:
        raise SystemExit("--api-port must differ from --port")


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve the arena (vote, leaderboard, HTTP API)")
    add_server_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    check_server_options(args)
    from arena.web.server import serve

    serve(host=args.host, port=args.port, build_demo=not args.no_demo, workers=args.workers,
          api_port=args.api_port)
    return 0
