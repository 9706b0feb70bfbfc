"""`homeroom-console`'s entry point: the command line's modules, loaded without the garbage
collector going over them again and again.

`homeroom-console do` is a new process for every command a script or a teacher types, so
what it costs before and after its few milliseconds of work is most of what it costs.
Measured here (2026-12-04, `bench/do_start.py`), two passes of Python's garbage collector
over objects that live until the process ends were a tenth of it:

- while the modules load, each 700 new objects start a collection, and the older
  generations are traversed again and again as they grow;
- at exit, the interpreter collects everything the modules created, object by object,
  just before the process hands all its memory back at once (15 to 25 ms of a 150 ms `do`).

So collection is off while the modules load, and what they created is then moved out of
the collector's sight (`gc.freeze`, as CPython's documentation suggests for objects that
live as long as the process); after that, collection runs as usual, for the command's own
objects and, in the class grid, for everything the console creates while it runs.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def main() -> int:
    """Load the command line with the collector paused, then run it."""
    with loading():
        from .cli import main as run_command_line
    return run_command_line(sys.argv[1:])


@contextmanager
def loading() -> Iterator[None]:
    """Import modules for the rest of the process's life inside this: the collector is
    paused while they load, and what they made is frozen out of its sight after."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
