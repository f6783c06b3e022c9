"""Logging for the `dub` command: warnings on the console (everything with --verbose, above the progress
bars), and everything, with times and threads, in logs/dub.log of the job folder."""

from __future__ import annotations

import logging
from pathlib import Path

PACKAGES = ("dub", "dubbing", "flows", "lipsync", "languages")  # the loggers that are ours
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"


def setup(verbose: bool, console) -> None:
    """Send our loggers to the rich `console` (WARNING and up; DEBUG and up with `verbose`)."""
    from rich.logging import RichHandler

    handler = RichHandler(console=console, show_path=False, show_time=verbose, markup=False)
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in PACKAGES:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        logger.propagate = False


def log_to(folder: Path) -> Path:
    """Also write every record of our loggers to FOLDER/logs/dub.log (appended run after run)."""
    path = Path(folder) / "logs" / "dub.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    for name in PACKAGES:
        logging.getLogger(name).addHandler(handler)
    logging.getLogger("dub").info("run started")
    return path
