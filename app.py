"""Start Pareto Arena: ``python app.py [--host H] [--port P] [--workers N [--api-port Q]]``.

Serves the arena on the database named by ``$DATABASE_URL`` (default: ``arena.db`` here),
building the bundled demo set on first start.
"""
import argparse

from arena.cli.serve import add_server_options, check_server_options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_options(parser)
    args = parser.parse_args()
    check_server_options(args)
    from arena.web.server import serve

    serve(host=args.host, port=args.port, build_demo=not args.no_demo, workers=args.workers,
          api_port=args.api_port)


if __name__ == "__main__":
    main()
