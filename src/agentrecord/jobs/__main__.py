"""`python -m agentrecord.jobs worker URL --import myapp.models`: a worker for any application's agents."""

from __future__ import annotations

import argparse
import importlib
import sys

from sqlalchemy.exc import SQLAlchemyError

from ..errors import AgentRecordError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentrecord.jobs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    work = sub.add_parser("worker", help="Run queued and scheduled turns until SIGINT/SIGTERM.")
    work.add_argument("url", help="The application's database URL.")
    work.add_argument("--import", dest="modules", action="append", default=[], help="A module defining agents.")
    work.add_argument("--concurrency", type=int, default=100, help="Turns run at once (default 100).")
    setup = sub.add_parser("install", help="Create the job tables in the database.")
    setup.add_argument("url")
    args = parser.parse_args(argv)
    try:
        from . import install
        from .dbos.worker import Worker

        if args.command == "install":
            install(args.url)
            return 0
        for name in args.modules:
            importlib.import_module(name)
        Worker(args.url, concurrency=args.concurrency).run()
    except (AgentRecordError, ValueError, ImportError, SQLAlchemyError) as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"Error: {detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
