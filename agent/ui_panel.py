"""The student's "what applies now" panel on the desktop, and the small tab that opens it.

Runs in the UI process on the Tk thread, beside `agent.tk_desktop`. The agent sends the
panel's lines (agent/what_applies.py) whenever the facts change; until it has, nothing shows.
Then a small tab sits at the right edge of the primary monitor (and the "being viewed" banner,
while shown, opens the panel too). Nothing here runs on a timer or takes the keyboard: the tab
is an override-redirect window a window manager never focuses, and new lines only change the
text of a panel already open, without raising it. Only a click of the student's opens it.

Every line is shown as a Tk label's text, which Tk draws literally (no markup, no Tcl
substitution); the agent made it printable before sending it.
"""

from __future__ import annotations

import tkinter

from .on_screen import MAX_TEXT, clip_text
from .ui_monitors import Monitor

__all__ = ["APPLIES_TAB_TITLE", "APPLIES_TITLE", "MAX_LINES", "WhatAppliesPanel"]

APPLIES_TITLE = "Homeroom: what applies now"
APPLIES_TAB_TITLE = "Homeroom: show what applies"
#: A quiet blue-grey: there to be found, not to alarm (the banner is the red one).
TAB_BACKGROUND = "#37474f"
TAB_FOREGROUND = "#ffffff"
#: More than the panel ever has (a policy window may add a few); the rest are dropped.
MAX_LINES = 20


class WhatAppliesPanel:
    """The tab and the panel. Only ever touched from the Tk thread."""

    def __init__(self, root: tkinter.Tk, primary: Monitor) -> None:
        self.root = root
        self.primary = primary
        self.lines: tuple[str, ...] = ()
        self.known = False  # the agent has said what applies
        self.hidden = False  # while locked: the lock covers everything, ours included
        self.tab: tkinter.Toplevel | None = None
        self.panel: tkinter.Toplevel | None = None
        self.panel_label: tkinter.Label | None = None
        self.panel_open = False

    def set_lines(self, lines: tuple[str, ...]) -> None:
        """New facts: the open panel changes in place (not raised); the tab appears once."""
        self.lines = tuple(clip_text(line, MAX_TEXT) for line in lines[:MAX_LINES])
        self.known = True
        if self.panel_label is not None:
            self.panel_label.configure(text="\n".join(self.lines))
        self.draw_tab()

    def hide(self, hidden: bool) -> None:
        """Stand aside while the screen is locked (the lock must cover everything)."""
        self.hidden = hidden
        if hidden:
            self.close()
        self.draw_tab()

    def draw_tab(self) -> None:
        if not self.known:
            return
        if self.tab is None:
            self.tab = self.make_tab()
        if self.hidden:
            self.tab.withdraw()
            return
        if self.tab.winfo_ismapped():
            return
        # Placed while unmapped (Tk does not reliably move a mapped override-redirect window).
        self.tab.update_idletasks()
        x, y, width, height = self.primary
        left = x + width - self.tab.winfo_reqwidth()
        top = y + (height * 2) // 3
        self.tab.geometry(f"+{left}+{top}")
        self.tab.deiconify()

    def make_tab(self) -> tkinter.Toplevel:
        tab = tkinter.Toplevel(self.root, background=TAB_BACKGROUND)
        tab.withdraw()
        tab.title(APPLIES_TAB_TITLE)
        tab.overrideredirect(True)
        tab.attributes("-topmost", True)
        tab.protocol("WM_DELETE_WINDOW", lambda: None)
        label = tkinter.Label(
            tab,
            text="\N{CIRCLED LATIN SMALL LETTER I} Homeroom",
            background=TAB_BACKGROUND,
            foreground=TAB_FOREGROUND,
            font=("Helvetica", 9),
            padx=6,
            pady=3,
            cursor="hand2",
        )
        label.pack()
        label.bind("<Button-1>", lambda _event: self.toggle())
        return tab

    def toggle(self) -> None:
        if self.panel_open:
            self.close()
        else:
            self.open()

    def open(self) -> None:
        """Show the panel (the student asked for it: it may come to the front)."""
        if self.hidden or not self.known:
            return
        if self.panel is None:
            self.panel = self.make_panel()
        assert self.panel_label is not None
        self.panel_label.configure(text="\n".join(self.lines))
        if not self.panel_open:
            self.panel.update_idletasks()
            x, y, width, height = self.primary
            left = x + max(0, width - self.panel.winfo_reqwidth() - 48)
            top = y + max(0, (height * 2) // 3 - self.panel.winfo_reqheight())
            self.panel.geometry(f"+{left}+{top}")
            self.panel.deiconify()
            self.panel_open = True
        self.panel.lift()

    def close(self) -> None:
        if self.panel is not None and self.panel_open:
            # Kept, withdrawn: opening it again only maps it.
            self.panel.withdraw()
        self.panel_open = False

    def make_panel(self) -> tkinter.Toplevel:
        panel = tkinter.Toplevel(self.root, padx=16, pady=12)
        panel.withdraw()  # placed before it is shown
        panel.title(APPLIES_TITLE)
        panel.resizable(False, False)
        panel.protocol("WM_DELETE_WINDOW", self.close)
        self.panel_label = tkinter.Label(
            panel, wraplength=420, justify="left", anchor="w", font=("Helvetica", 12)
        )
        self.panel_label.pack(anchor="w")
        tkinter.Button(panel, text="Close", width=8, command=self.close).pack(
            side="right", pady=(12, 0)
        )
        return panel

    def views(self) -> list[tuple[str, tkinter.Misc, str, list[str]]]:
        """(role, window, title, texts) of what is shown, for the desktop's snapshot."""
        shown: list[tuple[str, tkinter.Misc, str, list[str]]] = []
        if self.tab is not None:
            shown.append(("applies_tab", self.tab, APPLIES_TAB_TITLE, []))
        if self.panel is not None and self.panel_open and self.panel_label is not None:
            texts = str(self.panel_label.cget("text")).split("\n")
            shown.append(("applies", self.panel, APPLIES_TITLE, texts))
        return shown
