"""``python -m bot`` runs the bot exactly like ``reptile-museum run``."""

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["run"]))
