"""A console ends with its terminal: at SIGHUP or SIGTERM, even when its event loop is stuck.

asyncio's `loop.add_signal_handler` only notes the signal for the loop to act on later. A
terminal that stops reading (a tmux server stopped or gone, a frozen terminal window)
fills Textual's output queue, and then the event loop itself waits on that queue: the
signal is noted and never acted on, and the console runs on until someone sends SIGKILL.
A Python signal handler runs on the main thread even while it waits on a lock, so it
starts the deadline that ends the process, and only then asks the loop for a clean exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

HANGUPS = (signal.SIGHUP, signal.SIGTERM)


class Ending:
    """Leaves cleanly through `leave` if it can, and ends the process after a grace anyway."""

    def __init__(
        self,
        leave: Callable[[], None],
        grace_seconds: float,
        end_process: Callable[[int], None] = os._exit,
    ) -> None:
        self._leave = leave
        self._grace_seconds = grace_seconds
        self._end_process = end_process
        self._deadline: threading.Timer | None = None

    @property
    def started(self) -> bool:
        return self._deadline is not None

    def start_deadline(self) -> None:
        """End the process `grace_seconds` from the first call, however shutting down goes.

        Shutting Textual down can block for good once its terminal is gone (its writer
        thread's queue): a daemon thread, not the event loop, makes sure we leave anyway.
        """
        if self._deadline is not None:
            return
        self._deadline = threading.Timer(self._grace_seconds, self._end_process, args=(1,))
        self._deadline.daemon = True
        self._deadline.start()

    def on_hangup(self, loop: asyncio.AbstractEventLoop) -> None:
        """From now on, SIGHUP and SIGTERM end the console (call on the main thread)."""

        def hung_up(signum: int, frame: FrameType | None) -> None:
            self.start_deadline()
            # The loop may be closed already (the console was ending anyway): the deadline
            # is enough then.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._leave)

        for hangup in HANGUPS:
            signal.signal(hangup, hung_up)
