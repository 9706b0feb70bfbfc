"""Log lines of the UI process, on its stderr (the agent's own stderr), without `logging`.

The UI process runs all day next to the agent, and `logging` with what it brings is about
1.3 MiB resident there; it writes a handful of lines in a day. Same line shape as before:
time, "homeroom-ui", level, text.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _write(level: str, text: str, exc_info: ExcInfo | None = None) -> None:
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} homeroom-ui {level} {text}\n"
    if exc_info is not None:
        import traceback  # only when something failed

        line += "".join(traceback.format_exception(exc_info[1]))
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except (OSError, ValueError):  # no stderr left: nobody to tell
        pass


def info(text: str) -> None:
    _write("INFO", text)


def warning(text: str) -> None:
    _write("WARNING", text)


def error(text: str, exc_info: ExcInfo | None = None) -> None:
    _write("ERROR", text, exc_info)


def exception(text: str) -> None:
    """An error with the exception being handled."""
    kind, value, traceback = sys.exc_info()
    _write("ERROR", text, (kind, value, traceback) if kind and value else None)
