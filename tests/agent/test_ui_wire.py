"""The pipe between the agent and its UI process: messages in, bytes out, garbage refused."""

from __future__ import annotations

import msgspec
import pytest

from agent import ui_pipe
from agent.desktop import DesktopSnapshot, WindowView
from agent.ui_wire import (
    MAX_FRAME,
    Applies,
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
from tests.support import fresh_python

TO_UI: list[FromAgent] = [
    Lock(message="Eyes on the board", by="Ms Smith"),
    Unlock(),
    Messages(waiting=(QueuedMessage(id=1, sender="Ms Smith", text="[destroy .] $env(HOME)"),)),
    Watched(text="Your screen is being viewed by Ms Smith", ack=7),
    Watched(text=None, ack=8),
    ShowCountdown(text="Restarting", deadline=1_800_000_000.5),
    ClearCountdown(),
    TakeSnapshot(request=3),
    Applies(lines=("Watching your screen now: {Ms} [destroy .]", "No focus mode.")),
    Applies(lines=()),
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
        b"\xc1{",  # not JSON
        b'{"type":"nope"}',  # no such message
        b'{"type":"shown","ack":"one"}',  # Shown with a string for its number
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


# The UI process speaks through agent.ui_pipe (standard library only): both ends must agree.


def _as_pipe_message(message: object) -> object:
    """The ui_pipe message with the same name and fields as a ui_wire one."""
    kind = getattr(ui_pipe, type(message).__name__)
    fields = msgspec.structs.asdict(message)  # type: ignore[arg-type]
    if "waiting" in fields:
        fields["waiting"] = tuple(
            ui_pipe.QueuedMessage(**msgspec.structs.asdict(m)) for m in fields["waiting"]
        )
    return kind(**fields)


def test_the_ui_process_reads_every_message_the_agent_writes() -> None:
    data = b"".join(encode(message) for message in TO_UI)
    reader = ui_pipe.Reader()
    received: list[object] = []
    for index in range(len(data)):
        received += reader.feed(data[index : index + 1])
    expected = [_as_pipe_message(m) for m in TO_UI]
    assert received == expected
    # named tuples with no fields compare equal, so the kinds are checked too
    assert [type(m) for m in received] == [type(m) for m in expected]


def test_the_agent_reads_every_message_the_ui_process_writes() -> None:
    written = [_as_pipe_message(m) for m in FROM_UI]
    data = b"".join(ui_pipe.encode(m) for m in written)  # type: ignore[arg-type]
    assert Reader(FromUi).feed(data) == FROM_UI
    # and the UI's encoder writes what the agent's would, so neither end drifts
    assert data == b"".join(encode(m) for m in FROM_UI)


@pytest.mark.parametrize(
    "body",
    [
        b"\xc1{",  # not JSON
        b"[1, 2]",  # not an object
        b'{"type":"nope"}',  # no such message
        b'{"type":"ready","monitors":[]}',  # the UI's own message, not the agent's
        b'{"type":"watched","text":null,"ack":"7"}',  # a string for a number
        b'{"type":"watched","text":null,"ack":true}',  # a boolean for a number
        b'{"type":"lock","message":"x"}',  # a field missing
        b'{"type":"lock","message":"x","by":"y","extra":1}',  # a field too many
        b'{"type":"messages","waiting":[{"id":1,"sender":"a"}]}',  # a message missing its text
        b'{"type":"messages","waiting":["x"]}',
        b'{"type":"applies","lines":"one line"}',  # a string for a list
        b'{"type":"applies","lines":["a",1]}',  # a number for a line
    ],
)
def test_the_ui_process_refuses_what_is_not_exactly_a_message(body: bytes) -> None:
    with pytest.raises(ui_pipe.WireError):
        ui_pipe.Reader().feed(len(body).to_bytes(4, "big") + body)


def test_the_ui_process_refuses_an_oversized_length() -> None:
    with pytest.raises(ui_pipe.WireError, match="limit"):
        ui_pipe.Reader().feed((ui_pipe.MAX_FRAME + 1).to_bytes(4, "big"))


def test_both_ends_know_the_same_messages() -> None:
    import agent.ui_wire

    assert set(agent.ui_wire.__all__) == set(ui_pipe.__all__) - {"decode"}


def test_the_ui_process_imports_none_of_the_agents_heavy_modules() -> None:
    # What the UI process imports stays resident all day beside the agent's own copy.
    code = (
        "import sys\n"
        "import agent.ui_process, agent.tk_desktop\n"
        "heavy = ('msgspec', 'logging', 'dataclasses', 'inspect', 'concurrent', 'asyncio')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    assert fresh_python(code).strip() == ""
