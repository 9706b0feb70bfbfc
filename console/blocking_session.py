"""A staff session without asyncio, for `homeroom-console do`: connect, send, read, end.

The same session as the class grid's (console/session_state.py), carried by one thread
over a blocking socket (link/blocking.py): a command that sends one thing and waits for
the answers needs no event loop, and a new process starts measurably sooner without one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from types import TracebackType

from link.blocking import ConnectionClosed, Link, blocking_session, why
from protocol.actions import AnyAction
from protocol.commands import SignedCommand
from protocol.handshake import ClientHandshake
from protocol.messages import Message

from .session_state import SessionState, Subject


class BlockingSession(SessionState):
    """Use as `with BlockingSession(credential).connect() as session:`; closed at the end."""

    _ws: Link
    _endpoint: ClientHandshake

    def connect(self, *, open_timeout: float = 10.0) -> BlockingSession:
        """Dial and authenticate (PeerError, OSError or ValueError if that fails)."""
        self._open = ExitStack()
        self._ws, self._endpoint = self._open.enter_context(
            blocking_session(self.url, self.handshake, open_timeout=open_timeout)
        )
        return self

    def __enter__(self) -> BlockingSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open.close()

    def events(self, deadline: float) -> Iterator[Message]:
        """The hub's messages as they come.

        Raises TimeoutError once `deadline` (time.monotonic()) passes with nothing to read,
        ConnectionError once the hub has closed the connection (saying why, if it did).
        """
        while True:
            try:
                data = self._ws.recv(timeout=max(0.0, deadline - time.monotonic()))
            except ConnectionClosed as closed:
                said = why(closed.rcvd)
                raise ConnectionError(f"the hub closed the connection ({said})") from None
            if isinstance(data, bytes):
                continue  # a picture: nothing this session watches
            message = self.message_arrived(self._endpoint, data)
            if message is not None:
                yield message

    def submit(
        self, action: AnyAction, targets: Sequence[str], *, queue: bool = False, ttl: int = 60
    ) -> SignedCommand:
        """Sign `action` for `targets` and hand it to the hub; results arrive as events."""
        command = self.sign(action, targets, ttl=ttl)
        self._ws.send(self.submit_text(command, queue=queue))
        return command

    def query(self, subject: Subject, limit: int = 1000) -> str:
        """Ask the hub for a list; the Answer event carries the returned id."""
        request_id, text = self.query_text(subject, limit)
        self._ws.send(text)
        return request_id
