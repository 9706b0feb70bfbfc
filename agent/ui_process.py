"""The desktop UI process: Tk windows on the student's display, driven over a pipe by the agent.

`python -m agent.ui_process [--display :0]`, started by `agent.ui_supervisor` with the agent's
messages on stdin; it answers on what was stdout (stdout itself is pointed at stderr, so a
stray print cannot corrupt the pipe). It exits when the agent says Close or goes away (EOF).

It sleeps until something happens. On Unix Tk watches the pipe itself (a Tcl file handler),
so a message from the agent wakes the Tk event loop directly, with no timer. Where Tcl has no
file handlers (Windows), a reader thread blocks on the pipe and hands each batch to the Tk
thread with a virtual event (tkinter forwards calls from other threads to the Tk thread),
repeated until the Tk thread has taken it; both sleep while the agent says nothing.
"""

from __future__ import annotations

import _thread
import collections
import os
import signal
import sys
from collections.abc import Callable

from . import ui_log
from .on_screen import LOCK_NOT_SHOWN, MAX_NAME, MAX_TEXT, clip_text
from .records import TYPE_CHECKING
from .ui_monitors import Monitor, parse_monitors
from .ui_pipe import (
    Applies,
    ClearCountdown,
    Close,
    FromAgent,
    FromUi,
    Lock,
    Messages,
    Reader,
    Ready,
    Report,
    ShowCountdown,
    SnapshotTaken,
    TakeSnapshot,
    Unavailable,
    Unlock,
    Watched,
    WireError,
    encode,
)

if TYPE_CHECKING:
    import tkinter

    from .tk_desktop import TkWindows

__all__ = ["EXIT_UNAVAILABLE", "main"]


#: The exit status that says "no windows can be shown here" (after an Unavailable message).
EXIT_UNAVAILABLE = 3
_WAKE = "<<HomeroomPipe>>"
#: How long the reader thread waits for the Tk thread to take a batch before waking it again.
WAKE_AGAIN_SECONDS = 0.05


class Pipe:
    """The process's ends of the pipe to the agent."""

    def __init__(self, commands: int, answers: int) -> None:
        self.commands = commands
        self.answers = answers
        self.reader = Reader()
        # `threading` itself is loaded only where a reader thread needs it (Windows).
        self._write_guard = _thread.allocate_lock()

    def send(self, message: FromUi) -> None:
        data = encode(message)
        with self._write_guard:
            view = memoryview(data)
            while view:
                written = os.write(self.answers, view)
                view = view[written:]


class Dispatcher:
    """Carries out the agent's messages in order, one at a time.

    Handling one may run Tk's `update` (to be sure something is drawn), which can wake the pipe
    handler again; messages that arrive meanwhile wait their turn in the queue rather than
    overtaking the one being handled.
    """

    def __init__(self, windows: TkWindows, pipe: Pipe, stop: Callable[[], None]) -> None:
        self.windows = windows
        self.pipe = pipe
        self.stop = stop
        self.pending: collections.deque[FromAgent] = collections.deque()
        self.busy = False

    def add(self, messages: list[FromAgent]) -> None:
        self.pending.extend(messages)
        if self.busy:
            return
        self.busy = True
        try:
            while self.pending:
                message = self.pending.popleft()
                try:
                    self.handle(message)
                except Exception:
                    # One bad message must not take the lock screen down with it.
                    ui_log.exception(f"a desktop message failed: {type(message).__name__!r}")
        finally:
            self.busy = False

    def handle(self, message: FromAgent) -> None:
        windows = self.windows
        if isinstance(message, Lock):
            windows.lock(clip_text(message.message, MAX_TEXT), clip_text(message.by, MAX_NAME))
        elif isinstance(message, Unlock):
            windows.unlock()
        elif isinstance(message, Messages):
            windows.set_messages(message.waiting)
        elif isinstance(message, Watched):
            windows.set_banner(message.text, message.ack)
        elif isinstance(message, ShowCountdown):
            windows.show_countdown(message.text, message.deadline)
        elif isinstance(message, ClearCountdown):
            windows.clear_countdown()
        elif isinstance(message, Applies):
            windows.set_applies(message.lines)
        elif isinstance(message, TakeSnapshot):
            self.pipe.send(SnapshotTaken(message.request, windows.snapshot()))
        elif isinstance(message, Close):
            self.stop()


USAGE = """usage: python -m agent.ui_process [--display DISPLAY] [--monitors LIST] [--reader-thread]

  --display DISPLAY  the X display (default: $DISPLAY)
  --monitors LIST    where the monitors are, primary first: x,y,width,height;x,y,width,height
  --reader-thread    read the pipe on a thread even where Tk could watch it (the Windows path)

Started by the agent, which talks to it over stdin and stdout; not for people to run."""


def main(argv: list[str] | None = None) -> int:
    # Parsed by hand: argparse costs a noticeable part of the start-up that stands between a
    # killed lock and its return.
    args = list(sys.argv[1:] if argv is None else argv)
    display: str | None = None
    reader_thread = "--reader-thread" in args
    if reader_thread:
        args.remove("--reader-thread")
    monitors: list[Monitor] = []
    while args[:1] in (["--display"], ["--monitors"]) and len(args) >= 2:
        option, value, args = args[0], args[1], args[2:]
        if option == "--display":
            display = value
            continue
        try:
            monitors = parse_monitors(value)
        except ValueError as error:
            print(f"--monitors: {error}\n{USAGE}", file=sys.stderr)
            return 2
    if args:
        print(USAGE, file=sys.stderr)
        return 2
    # Ctrl-C in the agent's terminal is for the agent, which closes this process itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    pipe = Pipe(sys.stdin.fileno(), answers)
    try:
        return serve(pipe, display, monitors, reader_thread=reader_thread)
    except BrokenPipeError:
        return 0  # the agent is gone; so are we


def serve(pipe: Pipe, display: str | None, monitors: list[Monitor], *, reader_thread: bool) -> int:
    try:
        import tkinter
    except ImportError as error:
        pipe.send(
            Unavailable(
                f"Tk is not installed for {sys.executable} ({error}), so the agent cannot show "
                "the lock screen, messages or the 'being viewed' banner. Install it (Debian and "
                "Ubuntu: apt install python3-tk); everything else keeps working."
            )
        )
        return EXIT_UNAVAILABLE
    from .tk_desktop import TkWindows, log_callback_error

    try:
        root = tkinter.Tk(screenName=display, className="Homeroom")
    except tkinter.TclError as error:
        where = display or os.environ.get("DISPLAY") or "(none)"
        pipe.send(
            Unavailable(
                f"Cannot open windows on display {where}: {error}. The lock screen, messages "
                "and the 'being viewed' banner cannot be shown until the agent runs inside the "
                "student's desktop session; everything else keeps working."
            )
        )
        return EXIT_UNAVAILABLE
    root.withdraw()
    root.report_callback_exception = log_callback_error
    windows = TkWindows(root, monitors, pipe.send)
    dispatcher = Dispatcher(windows, pipe, stop=lambda: finish(root, windows))

    def received(data: bytes) -> None:
        if not data:  # EOF: the agent is gone
            finish(root, windows)
            return
        try:
            messages = pipe.reader.feed(data)
        except WireError as error:
            ui_log.error(f"the agent sent something unreadable ({error}); closing")
            pipe.send(Report(kind=LOCK_NOT_SHOWN, detail=f"desktop UI pipe broken: {error}"))
            finish(root, windows)
            return
        dispatcher.add(messages)

    if hasattr(root.tk, "createfilehandler") and not reader_thread:
        watch_with_tk(root, pipe.commands, received)
    else:
        watch_with_thread(root, pipe.commands, received)
    pipe.send(Ready(monitors=tuple(windows.monitors)))
    root.mainloop()
    root.destroy()
    return 0


def watch_with_tk(root: tkinter.Tk, fd: int, received: Callable[[bytes], None]) -> None:
    import tkinter

    def readable(_fd: int, _mask: int) -> None:
        data = os.read(fd, 65536)
        if not data:
            root.tk.deletefilehandler(fd)
        received(data)

    root.tk.createfilehandler(fd, tkinter.READABLE, readable)


def watch_with_thread(root: tkinter.Tk, fd: int, received: Callable[[bytes], None]) -> None:
    import queue
    import threading

    batches: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    taken = threading.Event()

    def deliver(_event: object) -> None:
        while True:
            try:
                data = batches.get_nowait()
            except queue.Empty:
                break
            received(data)
        taken.set()

    def read() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            taken.clear()
            batches.put(data)
            # tkinter hands the call to the Tk thread. Right after the Tk loop starts, such a
            # wake-up was seen to be lost (Tcl 8.6.13): so wake it again until it has taken
            # the batch. Waiting costs nothing; this runs only when the agent wrote.
            while not taken.is_set():
                try:
                    root.event_generate(_WAKE, when="tail")
                except Exception as error:  # the Tk loop has ended (RuntimeError, TclError)
                    ui_log.info(f"stopped reading the agent's pipe: {error}")
                    return
                taken.wait(WAKE_AGAIN_SECONDS)
            if not data:
                return

    root.bind(_WAKE, deliver)
    threading.Thread(target=read, name="homeroom-ui-pipe", daemon=True).start()


def finish(root: tkinter.Tk, windows: TkWindows) -> None:
    windows.close()
    root.quit()


if __name__ == "__main__":
    sys.exit(main())
