"""``arena serve``: the web app (same as ``python app.py``)."""
from __future__ import annotations


def add_server_options(p) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--no-demo", action="store_true", help="do not build the demo set into an empty database")


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve the arena (vote, leaderboard, HTTP API)")
    add_server_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from arena.web.server import serve

    serve(host=args.host, port=args.port, build_demo=not args.no_demo)
    return 0
