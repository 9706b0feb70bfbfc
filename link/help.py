"""Command-line help as wide as the terminal, for the agent's and the console's commands."""

from __future__ import annotations

import argparse
import os


class TerminalHelp(argparse.HelpFormatter):
    """argparse's help, as wide as the terminal, without `shutil`.

    argparse makes a formatter at every `add_argument`, and its own asks `shutil` for the
    width: that import (with bz2 and lzma, 0.4 MiB) would stay in an agent that runs all day,
    and costs `homeroom-console do` a few milliseconds before anything is sent.
    """

    def __init__(self, prog: str) -> None:
        columns = os.environ.get("COLUMNS", "")  # first, as shutil reads it
        if not columns.isdigit():
            try:
                columns = str(os.get_terminal_size().columns)
            except OSError:  # not a terminal
                columns = "80"
        super().__init__(prog, width=max(int(columns) - 2, 20))  # argparse's margin
