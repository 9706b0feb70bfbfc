"""`homeroom-console`'s entry point (console/start.py): the command line loaded with the
garbage collector paused, what it loaded frozen, and collection back on for the command."""

from __future__ import annotations

import subprocess
import sys

# After the entry point has run (here, `do` without an action: argparse's error, exit 2),
# print what the collector looks like and whether the command line ran at all.
_AFTER_ENTRY = """
import gc, sys
from console.start import main
before = gc.get_freeze_count()
try:
    main()
except SystemExit as stop:
    status = stop.code
print(status, gc.isenabled(), before, gc.get_freeze_count(), "console.cli" in sys.modules)
"""


def test_the_modules_are_frozen_and_collection_is_back_on() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _AFTER_ENTRY, "do"], capture_output=True, text=True, check=True
    )
    status, enabled, before, frozen, loaded = done.stdout.split()
    assert status == "2" and "do" in done.stderr  # the command line ran and said what was wrong
    assert enabled == "True"  # the command's own objects are collected as usual
    assert before == "0"
    # Everything the console's modules created (tens of thousands of objects here) is out
    # of the collector's way; a handful would mean the freeze came too early.
    assert int(frozen) > 10_000
    assert loaded == "True"


def test_collection_is_back_on_when_the_command_line_cannot_load() -> None:
    code = (
        "import gc, sys\n"
        "sys.modules['console.cli'] = None\n"  # as if the install were broken
        "from console.start import main\n"
        "try:\n    main()\nexcept ImportError:\n    print(gc.isenabled())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True"]
