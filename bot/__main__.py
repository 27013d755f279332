"""Command line: `python -m bot run|check-config|demo`. Composes the parts; no logic here."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.config import ConfigError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samverkan-bot", description="Samverkan bot: a Matrix bot for "
                                     "regional crisis collaboration (convening by function, meetings, lägesbild).")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot")
    run.add_argument("--config", required=True, help="path to the TOML configuration")
    check = sub.add_parser("check-config", help="validate a configuration and list every error")
    check.add_argument("path")
    sub.add_parser("demo", help="start a local homeserver and the bot with a scripted conversation")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("nio").setLevel(logging.WARNING)
    if args.command == "check-config":
        try:
            settings = load_settings(args.path)
        except ConfigError as exc:
            print(f"{args.path}: {len(exc.errors)} error(s)", file=sys.stderr)
            for error in exc.errors:
                print(f"  {error}", file=sys.stderr)
            return 1
        print(f"OK: {settings.summary()}")
        return 0
    if args.command == "run":
        from bot.app import App
        from bot.matrix.client import LoginFailed

        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            print(f"{args.config}: configuration errors:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
            return 1
        try:
            asyncio.run(App(settings).run())
        except LoginFailed as exc:
            print(f"cannot start: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "demo":
        from bot.demo import main as demo_main

        return demo_main()
    return 2


if __name__ == "__main__":
    sys.exit(main())
