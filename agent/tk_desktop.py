"""The Tk desktop: the lock over every monitor, the message window, the banner, a countdown.

Runs in the UI process (`agent.ui_process`), on the thread that owns Tk. Nothing here polls:
the lock and the banner are guarded by X events (Unmap, Destroy, Visibility), the process
wakes when the agent writes to its pipe, and the only timers run while something needs them
(a countdown ticking, a keyboard grab another program still holds).

While locked, the banner and the countdown are drawn inside the lock window rather than in
windows of their own: then nothing of ours covers the lock, and any VisibilityNotify saying
it is covered means another program covered it.
"""

from __future__ import annotations

import time
import tkinter
from collections.abc import Callable
from types import TracebackType

from . import ui_log
from .on_screen import (
    COUNTDOWN_BACKGROUND,
    COUNTDOWN_FOREGROUND,
    COUNTDOWN_TITLE,
    INDICATOR_BACKGROUND,
    INDICATOR_FOREGROUND,
    INDICATOR_TITLE,
    LOCK_BACKGROUND,
    LOCK_FOREGROUND,
    LOCK_SECONDARY,
    LOCK_TAMPERED,
    LOCK_TITLE,
    DesktopSnapshot,
    WindowView,
    countdown_text,
    message_position,
    message_title,
)
from .records import TYPE_CHECKING
from .ui_monitors import Monitor
from .ui_panel import WhatAppliesPanel
from .ui_pipe import FromUi, MessageRead, QueuedMessage, Report, Shown

if TYPE_CHECKING:
    from .ui_supervisor import SupervisedDesktop

__all__ = ["TkWindows", "log_callback_error"]


_UNOBSCURED = "VisibilityUnobscured"


class TkWindows:
    """Every Homeroom window on the display. Only ever touched from the Tk thread.

    `send` carries what happened back to the agent (acknowledgements, reports, reads).
    """

    GRAB_RETRY_MS = 50
    # Retrying a grab is a timer; after this many quick tries it slows down to once a second.
    QUICK_GRAB_TRIES = 40

    def __init__(
        self, root: tkinter.Tk, monitors: list[Monitor], send: Callable[[FromUi], None]
    ) -> None:
        self.root = root
        self.send = send
        self.screen_width = root.winfo_screenwidth()
        self.screen_height = root.winfo_screenheight()
        self.monitors = monitors or [(0, 0, self.screen_width, self.screen_height)]
        # The lock.
        self.lock_wanted: tuple[str, str] | None = None
        self.lock_window: tkinter.Toplevel | None = None
        self.lock_panels: list[tuple[tkinter.Label, tkinter.Label]] = []
        self.lock_banner: tkinter.Label | None = None
        self.lock_countdown: tkinter.Label | None = None
        self.grab_retry: str | None = None
        self.grab_attempts = 0
        # The "being viewed" banner.
        self.banner_text: str | None = None
        self.banner: tkinter.Toplevel | None = None
        self.banner_label: tkinter.Label | None = None
        # A countdown to a power action.
        self.countdown: tuple[str, float] | None = None
        self.countdown_window: tkinter.Toplevel | None = None
        self.countdown_label: tkinter.Label | None = None
        self.countdown_tick: str | None = None
        # Messages: one window, the oldest unread first.
        self.waiting: tuple[QueuedMessage, ...] = ()
        self.read: set[int] = set()
        self.message_window: tkinter.Toplevel | None = None
        self.message_text: tkinter.Label | None = None
        self.message_position: tkinter.Label | None = None
        self.message_shown = False
        # What applies now: a tab at the screen's edge opens it (agent/ui_panel.py).
        self.applies = WhatAppliesPanel(root, self.primary)

    @property
    def primary(self) -> Monitor:
        return self.monitors[0]

    # --- The lock ----------------------------------------------------------------------

    def lock(self, message: str, by: str) -> None:
        self.lock_wanted = (message, by)
        if self.lock_window is None:
            self.make_lock_window()
        for message_label, by_label in self.lock_panels:
            message_label.configure(text=message)
            by_label.configure(text=f"Locked by {by}")
        # The banner and the countdown move onto the lock; the panel and its tab stand aside.
        self.applies.hide(True)
        self.draw_banner()
        self.draw_countdown()
        self.show_lock()

    def make_lock_window(self) -> None:
        window = tkinter.Toplevel(self.root, background=LOCK_BACKGROUND)
        window.title(LOCK_TITLE)
        # No decorations, no window-manager handling: nothing to move, minimise or close. One
        # window over the bounding box of every monitor: nothing of the desktop peeks through.
        window.overrideredirect(True)
        window.geometry(f"{self.screen_width}x{self.screen_height}+0+0")
        window.attributes("-topmost", True)
        window.protocol("WM_DELETE_WINDOW", lambda: None)
        self.lock_panels = [self.make_lock_panel(window, monitor) for monitor in self.monitors]
        width = self.primary[2]
        self.lock_banner = tkinter.Label(
            window,
            background=INDICATOR_BACKGROUND,
            foreground=INDICATOR_FOREGROUND,
            font=("Helvetica", 11, "bold"),
            padx=10,
            pady=4,
            wraplength=max(200, width // 2),
        )
        self.lock_countdown = tkinter.Label(
            window,
            background=COUNTDOWN_BACKGROUND,
            foreground=COUNTDOWN_FOREGROUND,
            font=("Helvetica", 14, "bold"),
            padx=14,
            pady=8,
            wraplength=max(300, width // 2),
            justify="center",
        )
        window.bind("<Map>", self.on_lock_event, add="+")
        window.bind("<Unmap>", self.on_lock_event, add="+")
        window.bind("<Destroy>", self.on_lock_event, add="+")
        window.bind("<Visibility>", self.on_lock_event, add="+")
        self.lock_window = window

    def make_lock_panel(
        self, window: tkinter.Toplevel, monitor: Monitor
    ) -> tuple[tkinter.Label, tkinter.Label]:
        x, y, width, height = monitor
        body = tkinter.Frame(window, background=LOCK_BACKGROUND)
        body.place(x=x + width // 2, y=y + height // 2, anchor="center")
        message_label = tkinter.Label(
            body,
            background=LOCK_BACKGROUND,
            foreground=LOCK_FOREGROUND,
            font=("Helvetica", max(16, height // 24), "bold"),
            wraplength=int(width * 0.8),
            justify="center",
        )
        message_label.pack()
        by_label = tkinter.Label(
            body,
            background=LOCK_BACKGROUND,
            foreground=LOCK_SECONDARY,
            font=("Helvetica", max(11, height // 48)),
            wraplength=int(width * 0.8),
        )
        by_label.pack(pady=(height // 30, 0))
        return message_label, by_label

    def show_lock(self) -> None:
        window = self.lock_window
        if window is None:
            return
        # An unmapped override-redirect toplevel is "iconic" to Tk; deiconify maps it again.
        window.deiconify()
        window.lift()
        # Our own windows stand aside: the lock draws the banner and countdown itself.
        for other in (self.banner, self.countdown_window):
            if other is not None:
                other.withdraw()
        if window.winfo_ismapped():
            self.take_grab()
        # Otherwise <Map> takes the grab: X refuses a grab on a window not yet viewable.

    def on_lock_event(self, event: tkinter.Event[tkinter.Misc]) -> None:
        window = self.lock_window
        if window is None or event.widget is not window:
            return  # a label inside, or a lock window we are taking down ourselves
        kind = event.type
        if self.lock_wanted is None:
            # Unlocked: the window waits, withdrawn, for the next lock (unmapped by us). Should
            # someone destroy it meanwhile, the next lock makes a new one.
            if kind == tkinter.EventType.Destroy:
                self.forget_lock_window()
            return
        if kind == tkinter.EventType.Map:
            self.take_grab()
        elif kind == tkinter.EventType.Unmap:
            self.tampered("the lock screen was hidden (unmapped) by another program; shown again")
            self.root.after_idle(self.show_lock)
        elif kind == tkinter.EventType.Destroy:
            self.tampered("the lock screen was destroyed by another program; shown again")
            self.forget_lock_window()
            self.root.after_idle(self.restore_lock)
        elif kind == tkinter.EventType.Visibility and _obscured(event):
            # Something covers part of the lock: a program raising itself, a new window. Only
            # a window of another program can (ours are withdrawn or drawn inside the lock).
            ui_log.info("a window covered the lock screen; raising the lock again")
            window.lift()

    def forget_lock_window(self) -> None:
        self.cancel_grab_retry()
        self.lock_window, self.lock_panels = None, []
        self.lock_banner = self.lock_countdown = None

    def restore_lock(self) -> None:
        if self.lock_wanted is not None and self.lock_window is None:
            self.lock(*self.lock_wanted)

    def tampered(self, detail: str) -> None:
        ui_log.warning(detail)
        self.send(Report(kind=LOCK_TAMPERED, detail=detail))

    def take_grab(self) -> None:
        """Grab keyboard and pointer for the whole display; retry while another program has them.

        The grab fails while another program holds one (an open menu, a screensaver). X says
        nothing when that ends, so this is the one place that retries on a timer, and only
        while the grab is missing.
        """
        self.cancel_grab_retry()
        window = self.lock_window
        if window is None or self.lock_wanted is None or not window.winfo_ismapped():
            return
        try:
            window.grab_set_global()
        except tkinter.TclError as error:
            self.grab_attempts += 1
            if self.grab_attempts == self.QUICK_GRAB_TRIES:
                detail = f"another program holds the keyboard or pointer ({error}); still trying"
                self.tampered(f"the lock screen cannot take the keyboard: {detail}")
            delay = self.GRAB_RETRY_MS if self.grab_attempts < self.QUICK_GRAB_TRIES else 1000
            self.grab_retry = self.root.after(delay, self.take_grab)
            return
        self.grab_attempts = 0
        window.focus_force()

    def cancel_grab_retry(self) -> None:
        if self.grab_retry is not None:
            self.root.after_cancel(self.grab_retry)
            self.grab_retry = None

    def unlock(self) -> None:
        # Not wanted first, so its Unmap is not taken for tampering.
        self.lock_wanted = None
        self.cancel_grab_retry()
        window = self.lock_window
        if window is not None:
            window.grab_release()
            # Kept, withdrawn: the next lock only maps it again, which is quicker.
            window.withdraw()
        # Back in their own windows, now that nothing covers them.
        self.applies.hide(False)
        self.draw_banner()
        self.draw_countdown(placed=False)

    # --- The "being viewed" banner ---------------------------------------------------------

    def set_banner(self, text: str | None, ack: int) -> None:
        """Show (or hide) the banner, and tell the agent once it is on the screen."""
        self.banner_text = text
        self.draw_banner()
        # `update` maps what is pending, handles the Expose that follows, draws, and syncs with
        # the server (XSync) until nothing is left to do: after it, the banner is on the screen
        # for any program that captures it.
        self.root.update()
        self.send(Shown(ack=ack))

    def draw_banner(self) -> None:
        text = None if self.banner_text is None else f"\N{BLACK CIRCLE} {self.banner_text}"
        x, y, width, _ = self.primary
        if self.lock_wanted is not None and self.lock_banner is not None:
            if text is None:
                self.lock_banner.place_forget()
            else:
                self.lock_banner.configure(text=text)
                self.lock_banner.place(x=x + width - 8, y=y + 8, anchor="ne")
            return
        if text is None:
            if self.banner is not None:
                self.banner.withdraw()
            return
        if self.banner is None or self.banner_label is None:
            self.banner, self.banner_label = self.make_banner(width)
        self.banner_label.configure(text=text)
        # Tk does not reliably move a mapped override-redirect window, so place it while
        # unmapped. Watchers change rarely; the blink is not noticeable.
        self.banner.withdraw()
        self.banner.update_idletasks()
        banner_width = self.banner.winfo_reqwidth()
        banner_height = self.banner.winfo_reqheight()
        left = max(x, x + width - banner_width - 8)
        self.banner.geometry(f"{banner_width}x{banner_height}+{left}+{y + 8}")
        self.banner.deiconify()
        self.banner.lift()

    def make_banner(self, width: int) -> tuple[tkinter.Toplevel, tkinter.Label]:
        banner = tkinter.Toplevel(self.root, background=INDICATOR_BACKGROUND)
        banner.title(INDICATOR_TITLE)
        banner.overrideredirect(True)
        banner.attributes("-topmost", True)
        banner.protocol("WM_DELETE_WINDOW", lambda: None)
        label = tkinter.Label(
            banner,
            background=INDICATOR_BACKGROUND,
            foreground=INDICATOR_FOREGROUND,
            font=("Helvetica", 11, "bold"),
            padx=10,
            pady=4,
            wraplength=max(200, width // 2),
        )
        label.pack()
        # The banner says who watches; a click on it opens what else applies.
        label.bind("<Button-1>", lambda _event: self.applies.open())
        banner.bind("<Visibility>", lambda event: self.keep_on_top(banner, event), add="+")
        return banner, label

    def keep_on_top(self, window: tkinter.Toplevel, event: tkinter.Event[tkinter.Misc]) -> None:
        # Our own banner or countdown, covered by another program's window: raise it. Not while
        # locked: then they are withdrawn and the lock shows them.
        if event.widget is window and self.lock_wanted is None and _obscured(event):
            window.lift()

    # --- The countdown ------------------------------------------------------------------

    def show_countdown(self, text: str, deadline: float) -> None:
        self.countdown = (text, deadline)
        self.draw_countdown(placed=False)

    def clear_countdown(self) -> None:
        self.countdown = None
        self.draw_countdown()

    def draw_countdown(self, placed: bool = True) -> None:
        if self.countdown_tick is not None:
            self.root.after_cancel(self.countdown_tick)
            self.countdown_tick = None
        x, y, width, _ = self.primary
        if self.countdown is None:
            if self.lock_countdown is not None:
                self.lock_countdown.place_forget()
            if self.countdown_window is not None:
                self.countdown_window.destroy()
                self.countdown_window = self.countdown_label = None
            return
        text, deadline = self.countdown
        remaining = deadline - time.time()
        words = f"{text}\n{countdown_text(remaining)}"
        if self.lock_wanted is not None and self.lock_countdown is not None:
            self.lock_countdown.configure(text=words)
            self.lock_countdown.place(x=x + width // 2, y=y + 48, anchor="n")
        else:
            if self.countdown_window is None or self.countdown_label is None:
                self.countdown_window, self.countdown_label = self.make_countdown_window(width)
                placed = False
            self.countdown_label.configure(text=words)
            if not placed:
                window = self.countdown_window
                window.withdraw()
                window.update_idletasks()
                left = x + (width - window.winfo_reqwidth()) // 2
                window.geometry(f"+{left}+{y + 48}")
                window.deiconify()
                window.lift()
        if remaining > 0:
            # Wake when the shown second changes, not before.
            wait_ms = int((remaining - int(remaining)) * 1000) or 1000
            self.countdown_tick = self.root.after(wait_ms + 1, self.draw_countdown)

    def make_countdown_window(self, width: int) -> tuple[tkinter.Toplevel, tkinter.Label]:
        window = tkinter.Toplevel(self.root, background=COUNTDOWN_BACKGROUND)
        window.title(COUNTDOWN_TITLE)
        window.overrideredirect(True)
        window.attributes("-topmost", True)
        window.protocol("WM_DELETE_WINDOW", lambda: None)
        label = tkinter.Label(
            window,
            background=COUNTDOWN_BACKGROUND,
            foreground=COUNTDOWN_FOREGROUND,
            font=("Helvetica", 14, "bold"),
            padx=14,
            pady=8,
            wraplength=max(300, width // 2),
            justify="center",
        )
        label.pack()
        window.bind("<Visibility>", lambda event: self.keep_on_top(window, event), add="+")
        return window, label

    # --- What applies now -----------------------------------------------------------------

    def set_applies(self, lines: tuple[str, ...]) -> None:
        self.applies.set_lines(lines)

    # --- Messages --------------------------------------------------------------------------

    def set_messages(self, waiting: tuple[QueuedMessage, ...]) -> None:
        # The agent may not have heard yet that the student read some of these.
        self.read &= {message.id for message in waiting}
        self.waiting = tuple(message for message in waiting if message.id not in self.read)
        self.draw_message()

    def read_message(self) -> None:
        if not self.waiting:
            return
        current, self.waiting = self.waiting[0], self.waiting[1:]
        self.read.add(current.id)
        self.send(MessageRead(id=current.id))
        self.draw_message()

    def draw_message(self) -> None:
        window = self.message_window
        if not self.waiting:
            if window is not None and self.message_shown:
                # Kept, withdrawn: the next message only maps it again, which is quicker.
                window.withdraw()
                self.message_shown = False
            return
        current = self.waiting[0]
        if window is None:
            window = self.make_message_window()
        text, position = self.message_text, self.message_position
        assert text is not None and position is not None
        title = message_title(current.sender)
        changed = window.title() != title or text.cget("text") != current.text
        window.title(title)
        text.configure(text=current.text)
        where = message_position(0, len(self.waiting))
        if where is None:
            position.pack_forget()
        else:
            position.configure(text=where)
            position.pack(side="left", anchor="w", pady=(14, 0))
        fresh = not self.message_shown
        if fresh:
            # Placed while unmapped (a window manager may not move a mapped one), centred.
            window.update_idletasks()
            x, y, width, height = self.primary
            left = x + max(0, (width - window.winfo_reqwidth()) // 2)
            top = y + max(0, (height - window.winfo_reqheight()) // 3)
            window.geometry(f"+{left}+{top}")
            window.deiconify()
            self.message_shown = True
        if fresh or changed:
            # A new message comes to the front; the lock, if up, raises itself above it again.
            window.lift()

    def make_message_window(self) -> tkinter.Toplevel:
        window = tkinter.Toplevel(self.root, padx=20, pady=16)
        window.withdraw()  # placed before it is shown
        window.resizable(False, False)
        window.protocol("WM_DELETE_WINDOW", self.read_message)
        self.message_text = tkinter.Label(
            window, wraplength=420, justify="left", font=("Helvetica", 13)
        )
        self.message_text.pack(anchor="w")
        footer = tkinter.Frame(window)
        footer.pack(fill="x")
        tkinter.Button(footer, text="OK", width=8, command=self.read_message).pack(
            side="right", pady=(14, 0)
        )
        self.message_position = tkinter.Label(footer, font=("Helvetica", 10), foreground="#555")
        self.message_window = window
        return window

    # --- For tests and diagnostics ---------------------------------------------------------

    def snapshot(self) -> DesktopSnapshot:
        # `update` syncs with the X server and handles every event it has sent so far, so the
        # snapshot reflects anything another program did before it was asked for.
        self.root.update()
        views: list[WindowView] = []
        lock = self.lock_window if self.lock_wanted is not None else None
        if lock is not None and lock.winfo_exists():
            texts = [str(label.cget("text")) for panel in self.lock_panels for label in panel]
            views.append(_view("lock", lock, lock.title(), texts))
            for role, title, label in (
                ("indicator", INDICATOR_TITLE, self.lock_banner),
                ("countdown", COUNTDOWN_TITLE, self.lock_countdown),
            ):
                if label is not None and label.winfo_manager():
                    views.append(_view(role, label, title, [str(label.cget("text"))]))
        message = self.message_window
        if message is not None and self.message_shown and self.message_text is not None:
            texts = [str(self.message_text.cget("text"))]
            if self.message_position is not None and self.message_position.winfo_manager():
                texts.append(str(self.message_position.cget("text")))
            views.append(_view("message", message, message.title(), texts))
        for role, window, label in (
            ("indicator", self.banner, self.banner_label),
            ("countdown", self.countdown_window, self.countdown_label),
        ):
            if window is not None and label is not None:
                views.append(_view(role, window, window.title(), [str(label.cget("text"))]))
        for role, shown, title, texts in self.applies.views():
            views.append(_view(role, shown, title, texts))
        grabbed = lock is not None and bool(lock.winfo_exists()) and lock.grab_status() == "global"
        timers = len(self.root.tk.splitlist(self.root.tk.call("after", "info")))
        return DesktopSnapshot(tuple(views), grabbed, timers)

    def close(self) -> None:
        self.cancel_grab_retry()
        if self.countdown_tick is not None:
            self.root.after_cancel(self.countdown_tick)
            self.countdown_tick = None
        self.unlock()
        self.applies.hide(True)
        window = self.lock_window
        self.forget_lock_window()
        if window is not None:
            window.destroy()


def _obscured(event: tkinter.Event[tkinter.Misc]) -> bool:
    # Tk gives a Visibility event's state as a name: VisibilityUnobscured, ...PartiallyObscured...
    return getattr(event, "state", _UNOBSCURED) != _UNOBSCURED


def _view(role: str, widget: tkinter.Misc, title: str, texts: list[str]) -> WindowView:
    return WindowView(
        role=role,
        title=title,
        texts=tuple(texts),
        x=widget.winfo_rootx(),
        y=widget.winfo_rooty(),
        width=widget.winfo_width(),
        height=widget.winfo_height(),
        viewable=bool(widget.winfo_viewable()),
    )


def log_callback_error(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    """Errors in Tk callbacks go to the log, not to a stderr nobody reads."""
    ui_log.error("A desktop window callback failed", exc_info=(kind, error, traceback))


def __getattr__(name: str) -> type[SupervisedDesktop]:
    # TkDesktop: the name the Tk desktop had before it moved to a process of its own; it is the
    # supervised desktop now (the agent imports that from agent.ui_supervisor, which loads no
    # Tk). Looked up lazily, so the UI process, which imports this module, does not load the
    # supervisor's modules on its way to the screen.
    if name == "TkDesktop":
        from .ui_supervisor import SupervisedDesktop

        return SupervisedDesktop
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
