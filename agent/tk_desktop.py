"""The Tk desktop: lock overlay, message windows and the indicator, drawn on a real display."""

from __future__ import annotations

import concurrent.futures
import gc
import logging
import queue
import threading
import time
import tkinter
from collections.abc import Callable, Sequence
from types import TracebackType

from .desktop import (
    INDICATOR_BACKGROUND,
    INDICATOR_FOREGROUND,
    INDICATOR_TITLE,
    LOCK_BACKGROUND,
    LOCK_FOREGROUND,
    LOCK_SECONDARY,
    LOCK_TITLE,
    MAX_NAME,
    MAX_OPEN_MESSAGES,
    MAX_TEXT,
    DesktopSnapshot,
    DesktopUnavailable,
    WindowView,
    clip_text,
    message_title,
    watched_text,
)

__all__ = ["TkDesktop"]

logger = logging.getLogger(__name__)

_Command = Callable[["_TkWindows"], None]


class TkDesktop:
    """A Desktop drawn with Tk on a real display.

    Tk is not thread-safe, so one thread owns the Tk interpreter: public methods put commands
    on a queue that this thread drains every `poll_interval` seconds. A polled queue works on
    every platform, unlike a file handler, and 25 ms is well under what a person notices.
    """

    def __init__(
        self,
        display: str | None = None,
        *,
        poll_interval: float = 0.025,
        start_timeout: float = 10.0,
    ) -> None:
        self._commands: queue.SimpleQueue[_Command | None] = queue.SimpleQueue()
        # Held while changing state *and* queueing the command, so the order of commands in the
        # queue is the order in which the state changed, whichever threads call.
        self._state = threading.Lock()
        self._locked = False
        self._closed = False
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run,
            args=(display, max(1, round(poll_interval * 1000)), started),
            name="homeroom-desktop",
            # A forgotten close() must not keep the agent process alive.
            daemon=True,
        )
        self._thread.start()
        try:
            started.result(timeout=start_timeout)
        except tkinter.TclError as error:
            where = display or "$DISPLAY"
            raise DesktopUnavailable(
                f"Cannot open windows on display {where}: {error}. "
                "Start the agent inside the student's desktop session, or use a HeadlessDesktop."
            ) from error
        except concurrent.futures.TimeoutError as error:
            # Should Tk come up after all, it finds the queue closed and stops.
            self.close(timeout=0)
            raise DesktopUnavailable(
                f"Tk did not start within {start_timeout:.0f} s; is the display responding?"
            ) from error

    # The Tk thread.

    def _run(
        self, display: str | None, poll_ms: int, started: concurrent.futures.Future[None]
    ) -> None:
        self._serve(display, poll_ms, started)
        # Tk objects must die on the thread that owns the interpreter. _serve's locals are gone
        # now; collect any reference cycles among widgets here, not later on another thread.
        gc.collect()

    def _serve(
        self, display: str | None, poll_ms: int, started: concurrent.futures.Future[None]
    ) -> None:
        try:
            root = tkinter.Tk(screenName=display, className="Homeroom")
        except tkinter.TclError as error:
            started.set_exception(error)
            return
        root.withdraw()
        # Errors in Tk callbacks go to the agent's log, not to a stderr nobody reads.
        root.report_callback_exception = _log_callback_error
        windows = _TkWindows(root)

        def drain() -> None:
            while True:
                try:
                    command = self._commands.get_nowait()
                except queue.Empty:
                    break
                if command is None:
                    windows.close()
                    root.destroy()
                    return
                try:
                    command(windows)
                except Exception:
                    # One bad command must not take the lock screen down with it.
                    logger.exception("A desktop command failed")
            root.after(poll_ms, drain)

        root.after(poll_ms, drain)
        started.set_result(None)
        root.mainloop()

    def _post(self, command: _Command) -> None:
        self._commands.put(command)

    # Public API, any thread.

    @property
    def locked(self) -> bool:
        with self._state:
            return self._locked

    def lock(self, message: str, by: str) -> None:
        message, by = clip_text(message, MAX_TEXT), clip_text(by, MAX_NAME)
        with self._state:
            if self._closed:
                return
            self._locked = True
            self._post(lambda windows: windows.lock(message, by))

    def unlock(self) -> None:
        with self._state:
            if self._closed:
                return
            self._locked = False
            self._post(lambda windows: windows.unlock())

    def show_message(self, text: str, sender: str) -> None:
        text, title = clip_text(text, MAX_TEXT), message_title(sender)
        with self._state:
            if not self._closed:
                self._post(lambda windows: windows.show_message(text, title))

    def set_watched(self, watchers: Sequence[str]) -> None:
        text = watched_text(watchers)
        with self._state:
            if not self._closed:
                self._post(lambda windows: windows.set_indicator(text))

    def show_countdown(self, text: str, deadline: float) -> None:
        # A stand-in until the countdown window lands (another branch): the student is
        # told in a message window, with the time it will happen.
        at = time.strftime("%H:%M:%S", time.localtime(deadline))
        self.show_message(f"{text}\nAt {at}.", sender="IT")

    def clear_countdown(self) -> None:
        pass  # the stand-in's message window is the student's to dismiss

    def snapshot(self, timeout: float = 10.0) -> DesktopSnapshot:
        """Homeroom's windows as the display has them, once pending work is done.

        Blocks the caller (use asyncio.to_thread from the event loop). Meant for tests and
        diagnostics: it proves what is on screen, not just what was asked for.
        """
        result: concurrent.futures.Future[DesktopSnapshot] = concurrent.futures.Future()

        def take(windows: _TkWindows) -> None:
            try:
                result.set_result(windows.snapshot())
            except Exception as error:
                logger.exception("Taking a desktop snapshot failed")
                # A fresh exception: the original's traceback holds Tk objects, which must not
                # travel to (and be freed on) another thread.
                result.set_exception(RuntimeError(f"Taking a desktop snapshot failed: {error}"))

        with self._state:
            if self._closed:
                raise RuntimeError("This TkDesktop is closed.")
            self._post(take)
        return result.result(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Remove every window, stop the Tk thread and close the display connection.

        Waits up to `timeout` seconds for the Tk thread; it usually takes a few ms.
        """
        with self._state:
            if self._closed:
                return
            self._closed = True
            self._locked = False
            self._commands.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


class _TkWindows:
    """The Tk side: owns every window. Only ever touched from the Tk thread."""

    GRAB_RETRY_MS = 50
    # Other programs may raise their windows or steal focus; the lock and the indicator take
    # their place back this often.
    MAINTAIN_MS = 500

    def __init__(self, root: tkinter.Tk) -> None:
        self.root = root
        self.screen_width = root.winfo_screenwidth()
        self.screen_height = root.winfo_screenheight()
        self.lock_window: tkinter.Toplevel | None = None
        self.lock_labels: tuple[tkinter.Label, tkinter.Label] | None = None
        self.grab_retry: str | None = None
        self.grab_attempts = 0
        self.indicator: tkinter.Toplevel | None = None
        self.indicator_label: tkinter.Label | None = None
        self.indicator_shown = False
        self.messages: list[tkinter.Toplevel] = []
        self.maintain_timer = root.after(self.MAINTAIN_MS, self.maintain)

    # Lock screen.

    def lock(self, message: str, by: str) -> None:
        if self.lock_window is None or self.lock_labels is None:
            self.lock_window, self.lock_labels = self.make_lock_window()
        message_label, by_label = self.lock_labels
        message_label.configure(text=message)
        by_label.configure(text=f"Locked by {by}")
        self.restack()
        if self.grab_retry is None:
            self.grab_attempts = 0
            self.take_grab()

    def make_lock_window(self) -> tuple[tkinter.Toplevel, tuple[tkinter.Label, tkinter.Label]]:
        window = tkinter.Toplevel(self.root, background=LOCK_BACKGROUND)
        window.title(LOCK_TITLE)
        # No decorations, no window-manager handling: nothing to move, minimise or close.
        window.overrideredirect(True)
        window.geometry(f"{self.screen_width}x{self.screen_height}+0+0")
        window.attributes("-topmost", True)
        window.protocol("WM_DELETE_WINDOW", lambda: None)
        body = tkinter.Frame(window, background=LOCK_BACKGROUND)
        body.place(relx=0.5, rely=0.5, anchor="center")
        message_label = tkinter.Label(
            body,
            background=LOCK_BACKGROUND,
            foreground=LOCK_FOREGROUND,
            font=("Helvetica", max(16, self.screen_height // 24), "bold"),
            wraplength=int(self.screen_width * 0.8),
            justify="center",
        )
        message_label.pack()
        by_label = tkinter.Label(
            body,
            background=LOCK_BACKGROUND,
            foreground=LOCK_SECONDARY,
            font=("Helvetica", max(11, self.screen_height // 48)),
            wraplength=int(self.screen_width * 0.8),
        )
        by_label.pack(pady=(self.screen_height // 30, 0))
        return window, (message_label, by_label)

    def take_grab(self) -> None:
        """Grab keyboard and pointer for the whole display; retry until it works.

        The grab fails while the window is not yet mapped, or while another program holds a
        grab (an open menu, a screensaver); both pass, so keep trying while locked.
        """
        self.grab_retry = None
        window = self.lock_window
        if window is None:
            return
        try:
            window.grab_set_global()
        except tkinter.TclError as error:
            self.grab_attempts += 1
            if self.grab_attempts == 40:  # two seconds of failing is worth a line in the log
                logger.warning("The lock screen cannot grab the keyboard yet (%s); retrying", error)
            self.grab_retry = self.root.after(self.GRAB_RETRY_MS, self.take_grab)
            return
        window.focus_force()

    def unlock(self) -> None:
        self.cancel_grab_retry()
        window, self.lock_window, self.lock_labels = self.lock_window, None, None
        if window is not None:
            window.grab_release()
            window.destroy()

    def cancel_grab_retry(self) -> None:
        if self.grab_retry is not None:
            self.root.after_cancel(self.grab_retry)
            self.grab_retry = None

    # Messages.

    def show_message(self, text: str, title: str) -> None:
        while len(self.messages) >= MAX_OPEN_MESSAGES:
            self.messages.pop(0).destroy()
        window = tkinter.Toplevel(self.root, padx=20, pady=16)
        window.title(title)
        window.resizable(False, False)
        tkinter.Label(
            window, text=text, wraplength=420, justify="left", font=("Helvetica", 13)
        ).pack(anchor="w")
        tkinter.Button(window, text="OK", width=8, command=window.destroy).pack(
            anchor="e", pady=(14, 0)
        )
        window.bind("<Destroy>", lambda event: self.forget_message(window, event))
        # Cascade several messages so none hides another completely.
        offset = 30 * (len(self.messages) % 8)
        window.geometry(f"+{self.screen_width // 3 + offset}+{self.screen_height // 4 + offset}")
        self.messages.append(window)
        window.lift()
        # A message never covers the lock or the indicator.
        self.restack()

    def forget_message(self, window: tkinter.Toplevel, event: tkinter.Event[tkinter.Misc]) -> None:
        if str(event.widget) == str(window) and window in self.messages:
            self.messages.remove(window)

    # Indicator.

    def set_indicator(self, text: str | None) -> None:
        if text is None:
            self.indicator_shown = False
            if self.indicator is not None:
                self.indicator.withdraw()
            return
        if self.indicator is None or self.indicator_label is None:
            self.indicator = tkinter.Toplevel(self.root, background=INDICATOR_BACKGROUND)
            self.indicator.title(INDICATOR_TITLE)
            self.indicator.overrideredirect(True)
            self.indicator.attributes("-topmost", True)
            self.indicator.protocol("WM_DELETE_WINDOW", lambda: None)
            self.indicator_label = tkinter.Label(
                self.indicator,
                background=INDICATOR_BACKGROUND,
                foreground=INDICATOR_FOREGROUND,
                font=("Helvetica", 11, "bold"),
                padx=10,
                pady=4,
                wraplength=max(200, self.screen_width // 2),
            )
            self.indicator_label.pack()
        label = f"\N{BLACK CIRCLE} {text}"
        if self.indicator_shown and self.indicator_label.cget("text") == label:
            self.restack()
            return
        self.indicator_label.configure(text=label)
        # Tk does not reliably move a mapped override-redirect window (in tests it stayed at
        # 0,0 or kept its old place while the lock was up), so place it while unmapped.
        # Watchers change rarely; the blink is not noticeable.
        self.indicator.withdraw()
        self.indicator.update_idletasks()
        # Top-right corner, a few pixels in from the edges.
        width, height = self.indicator.winfo_reqwidth(), self.indicator.winfo_reqheight()
        x = max(0, self.screen_width - width - 8)
        self.indicator.geometry(f"{width}x{height}+{x}+8")
        self.indicator.deiconify()
        self.indicator_shown = True
        self.restack()

    # Both.

    def restack(self) -> None:
        """Lock above every other window, indicator above the lock: the student always sees it."""
        if self.lock_window is not None:
            self.lock_window.lift()
        if self.indicator is not None and self.indicator_shown:
            self.indicator.lift()

    def maintain(self) -> None:
        self.maintain_timer = self.root.after(self.MAINTAIN_MS, self.maintain)
        self.restack()
        window = self.lock_window
        if window is not None and self.grab_retry is None and window.grab_status() != "global":
            self.take_grab()

    def snapshot(self) -> DesktopSnapshot:
        # `update` syncs with the X server and handles every event it has sent so far, so the
        # snapshot reflects anything another program did before it was asked for.
        self.root.update()
        views: list[WindowView] = []
        for role, window in self.roles():
            if not window.winfo_exists():
                continue
            views.append(
                WindowView(
                    role=role,
                    title=window.title(),
                    texts=tuple(_label_texts(window)),
                    x=window.winfo_rootx(),
                    y=window.winfo_rooty(),
                    width=window.winfo_width(),
                    height=window.winfo_height(),
                    viewable=bool(window.winfo_viewable()),
                )
            )
        lock = self.lock_window
        grabbed = lock is not None and bool(lock.winfo_exists()) and lock.grab_status() == "global"
        return DesktopSnapshot(tuple(views), grabbed)

    def roles(self) -> list[tuple[str, tkinter.Toplevel]]:
        found: list[tuple[str, tkinter.Toplevel]] = []
        if self.lock_window is not None:
            found.append(("lock", self.lock_window))
        found.extend(("message", window) for window in self.messages)
        if self.indicator is not None:
            found.append(("indicator", self.indicator))
        return found

    def close(self) -> None:
        self.root.after_cancel(self.maintain_timer)
        self.unlock()


def _log_callback_error(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    logger.error("A desktop window callback failed", exc_info=(kind, error, traceback))


def _label_texts(widget: tkinter.Misc) -> list[str]:
    texts: list[str] = []
    for child in widget.winfo_children():
        if isinstance(child, tkinter.Label):
            texts.append(str(child.cget("text")))
        texts.extend(_label_texts(child))
    return texts
