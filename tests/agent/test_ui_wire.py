"""The pipe between the agent and its UI process: messages in, bytes out, garbage refused."""

from __future__ import annotations

import pytest

from agent.desktop import DesktopSnapshot, WindowView
from agent.ui_wire import (
    MAX_FRAME,
    ClearCountdown,
    Close,
    FromAgent,
    FromUi,
    Lock,
    MessageRead,
    Messages,
    QueuedMessage,
    Reader,
    Ready,
    Report,
    ShowCountdown,
    Shown,
    SnapshotTaken,
    TakeSnapshot,
    Unavailable,
    Unlock,
    Watched,
    WireError,
    encode,
)

TO_UI: list[FromAgent] = [
    Lock(message="Eyes on the board", by="Ms Smith"),
    Unlock(),
    Messages(waiting=(QueuedMessage(id=1, sender="Ms Smith", text="[destroy .] $env(HOME)"),)),
    Watched(text="Your screen is being viewed by Ms Smith", ack=7),
    Watched(text=None, ack=8),
    ShowCountdown(text="Restarting", deadline=1_800_000_000.5),
    ClearCountdown(),
    TakeSnapshot(request=3),
    Close(),
]
FROM_UI: list[FromUi] = [
    Ready(monitors=((0, 0, 1920, 1080), (1920, 0, 1920, 1080))),
    Unavailable(reason="no display"),
    Shown(ack=7),
    MessageRead(id=1),
    Report(kind="lock_tampered", detail="unmapped"),
    SnapshotTaken(
        request=3,
        snapshot=DesktopSnapshot(
            windows=(WindowView("lock", "Homeroom", ("a", "b"), 0, 0, 1024, 768, True),),
            input_grabbed=True,
        ),
    ),
]


def test_every_message_survives_the_pipe_byte_by_byte() -> None:
    for kind, messages in ((FromAgent, TO_UI), (FromUi, FROM_UI)):
        data = b"".join(encode(message) for message in messages)
        reader: Reader[object] = Reader(kind)
        received: list[object] = []
        for index in range(len(data)):  # a pipe may split anywhere
            received += reader.feed(data[index : index + 1])
        assert received == messages


def test_a_batch_arrives_whole() -> None:
    reader: Reader[FromAgent] = Reader(FromAgent)
    assert reader.feed(b"".join(encode(m) for m in TO_UI)) == TO_UI


def test_an_oversized_length_is_refused_before_reading_it() -> None:
    reader: Reader[FromUi] = Reader(FromUi)
    with pytest.raises(WireError, match="limit"):
        reader.feed((MAX_FRAME + 1).to_bytes(4, "big"))


@pytest.mark.parametrize(
    "body",
    [
        b"\xc1",  # never valid msgpack
        b"\x81\xa4type\xa4nope",  # {"type": "nope"}: no such message
        b"\x82\xa4type\xa5shown\xa3ack\xa3one",  # Shown with a string for its number
    ],
)
def test_garbage_is_an_error_not_a_message(body: bytes) -> None:
    reader: Reader[FromUi] = Reader(FromUi)
    with pytest.raises(WireError):
        reader.feed(len(body).to_bytes(4, "big") + body)


def test_each_side_reads_only_its_own_messages() -> None:
    # The agent never takes a Lock from the UI process, whatever it writes.
    with pytest.raises(WireError):
        Reader(FromUi).feed(encode(Lock(message="x", by="y")))
