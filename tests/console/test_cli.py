"""The installed console commands: `do` from a shell, and `--demo` in a real terminal (tmux)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from agent.desktop import HeadlessDesktop
from console.demo import certified_staff, set_up_school
from hub.store import Store
from hub.tls import server_context
from protocol.certificates import Role
from protocol.credentials import StaffCredential
from protocol.handshake import Claim, HubHandshake
from protocol.messages import encode_message

from ..classroom import Classroom, classroom
from ..support import scaled


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


async def console(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`homeroom-console ARGS` in a process of its own, as a script runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(scaled(60)):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def console_do(room: Classroom, *args: str) -> tuple[int, str, str]:
    credential = room.folder / "teacher.credential"
    if not credential.exists():
        credential.write_bytes(room.staff().encode())
    return await console("do", *args, "--credential", str(credential), "--wait", str(scaled(10)))


async def test_do_locks_a_named_device_and_prints_json(room: Classroom) -> None:
    desktop = HeadlessDesktop()
    await room.start_agent("Ada's laptop", desktop=desktop)
    code, out, err = await console_do(
        room, "lock", "--to", "Ada's laptop", "message=Eyes on me", "--json"
    )
    assert code == 0, err
    [row] = json.loads(out)
    assert row["name"] == "Ada's laptop" and row["ok"] and row["code"] == "ok"
    assert desktop.locked and desktop.lock_message == "Eyes on me"


async def test_do_exits_non_zero_when_a_device_cannot_do_it(room: Classroom) -> None:
    await room.start_agent("Ada's laptop")
    await room.enroll("Bilal's laptop")  # enrolled, but its agent is not running
    code, out, _ = await console_do(room, "message", "--all", "text=Tidy up please")
    assert code == 1
    assert "Ada's laptop: ok" in out
    assert "Bilal's laptop: FAILED device_offline" in out


async def test_do_refuses_what_the_role_may_not_do(room: Classroom) -> None:
    await room.start_agent("Ada's laptop")
    code, _, err = await console_do(room, "kill_process", "--all", "pid=1", "process_name=init")
    assert code == 2
    assert "role" in err.lower()


async def test_do_explains_bad_arguments(room: Classroom) -> None:
    code, _, err = await console_do(room, "open_url", "--all", "url=file:///etc/passwd")
    assert code == 2 and "http" in err


async def test_shared_options_go_before_do_as_well_as_after(room: Classroom) -> None:
    desktop = HeadlessDesktop()
    await room.start_agent("Ada's laptop", desktop=desktop)
    credential = room.folder / "teacher.credential"
    credential.write_bytes(room.staff().encode())
    code, out, err = await console(
        "--credential", str(credential), "--hub", room.url, "do", "lock", "--to", "Ada's laptop"
    )
    assert code == 0, err
    assert out == "Ada's laptop: ok\n" and desktop.locked


async def test_the_credential_is_found_in_the_consoles_own_folder(
    room: Classroom, tmp_path: Path
) -> None:
    await room.start_agent("Ada's laptop")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    code, _, err = await console("do", "message", "--all", "text=Hello", env=env)
    saved = tmp_path / "config" / "homeroom-console" / "staff.credential"
    assert code == 1 and "Traceback" not in err
    assert "homeroom-console keys --help" in err and f"save a credential as {saved}" in err
    saved.parent.mkdir(parents=True)
    saved.write_bytes(room.staff().encode())
    code, out, err = await console("do", "message", "--all", "text=Hello", env=env)
    assert code == 0, err
    assert out == "Ada's laptop: ok\n"


@contextlib.asynccontextmanager
async def silent_hub(folder: Path) -> AsyncIterator[StaffCredential]:
    """A server that signs in as a real hub would (TLS, pinned keys), then never says more.

    Yields a teacher's credential for it. Only the handshake is real: no roster, no
    answers, as an old, broken or impostor hub would behave.
    """
    org, keyring = set_up_school(folder, hub_url="wss://127.0.0.1:1", names=["127.0.0.1"])
    channel = keyring.channel

    async def sign_in_then_say_nothing(ws: ServerConnection) -> None:
        endpoint = HubHandshake(
            key=keyring.hub_key,
            certificate=keyring.hub_certificate,
            org_key=keyring.org_public,
            channel=channel,
        )
        await ws.send(encode_message(endpoint.step(await ws.recv())).decode())  # type: ignore[arg-type]
        claim = endpoint.step(await ws.recv())
        assert isinstance(claim, Claim) and claim.staff is not None
        await ws.send(encode_message(endpoint.accept(name=claim.staff.name)).decode())
        await ws.wait_closed()

    tls = server_context(str(keyring.tls_cert_path), str(keyring.tls_key_path))
    async with serve(sign_in_then_say_nothing, "127.0.0.1", 0, ssl=tls) as server:
        port = server.sockets[0].getsockname()[1]
        with Store.open(keyring.store_path) as store:
            yield certified_staff(
                org,
                keyring,
                store,
                name="Ms Smith",
                role=Role.TEACHER,
                groups=("7B",),
                now=int(time.time()) - 60,
                hub_url=f"wss://127.0.0.1:{port}",
            )


async def test_do_explains_a_hub_that_sends_no_device_list(tmp_path: Path) -> None:
    async with silent_hub(tmp_path) as credential:
        path = tmp_path / "teacher.credential"
        path.write_bytes(credential.encode())
        code, out, err = await console(
            "do", "lock", "--to", "Ada's laptop", "--credential", str(path), "--wait", "1"
        )
    assert code == 2 and out == ""
    assert f"the hub at {credential.hub_url} sent no device list within 1 s" in err
    assert "is it a Homeroom hub?" in err and "Traceback" not in err


async def test_do_to_a_device_id_names_it_from_the_device_list(room: Classroom) -> None:
    desktop = HeadlessDesktop()
    agent = await room.start_agent("Ada's laptop", desktop=desktop)
    device_id = agent.state.device_id
    code, out, err = await console_do(room, "lock", "--to", device_id, "--to", device_id)
    assert code == 0, err
    assert out == "Ada's laptop: ok\n"  # once, by name: the list passed by before the result
    assert desktop.locked


async def test_do_to_a_device_id_of_another_class_is_refused_by_the_hub(room: Classroom) -> None:
    agent = await room.start_agent("Zoe's laptop", group="8C")  # not the teacher's class
    code, out, _ = await console_do(room, "lock", "--to", agent.state.device_id)
    assert code == 1
    assert f"{agent.state.device_id[:16]}: FAILED group_forbidden" in out


async def test_do_to_a_device_id_does_not_wait_for_the_device_list(tmp_path: Path) -> None:
    # This hub never sends a device list: naming the device by id, the command still goes
    # (and the silent hub never answers it), instead of waiting for the list.
    async with silent_hub(tmp_path) as credential:
        path = tmp_path / "teacher.credential"
        path.write_bytes(credential.encode())
        device_id = "ab" * 32
        code, out, err = await console(
            "do", "lock", "--to", device_id, "--credential", str(path), "--wait", "1"
        )
    assert code == 1 and "Traceback" not in err
    assert out == f"{device_id[:16]}: FAILED no_answer: no answer within 1 s\n"


# A tmux server of this run's own: suites running side by side (CI's oldest run) must not
# kill each other's terminals.
TMUX_SOCKET = f"homeroom-test-{os.getpid()}"


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", TMUX_SOCKET, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=scaled(20),
    ).stdout


def wait_for_screen(check, seconds: float = 40.0) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + scaled(seconds)
    while True:
        screen = tmux("capture-pane", "-p", "-t", "demo")
        if check(screen):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"the terminal never showed it; last screen:\n{screen}")
        time.sleep(0.2)


def test_demo_in_a_real_terminal_shows_thumbnails_and_locks_from_the_keyboard() -> None:
    command = f"{sys.executable} -m console --demo 4"
    tmux("kill-server")
    tmux(
        "new-session", "-d", "-s", "demo", "-x", "140", "-y", "45", f"cd {os.getcwd()} && {command}"
    )
    try:
        screen = wait_for_screen(lambda s: s.count("online") == 4 and s.count("▀") > 400)
        assert "Signed in" in screen
        for name in ("Ada", "Bilal", "Chloé", "Dmitri"):
            assert name in screen
        tmux("send-keys", "-t", "demo", "a")
        tmux("send-keys", "-t", "demo", "l")
        wait_for_screen(lambda s: "Lock all 4 devices" in s)
        tmux("send-keys", "-t", "demo", "Enter")
        wait_for_screen(lambda s: "all 4 devices at once?" in s)
        tmux("send-keys", "-t", "demo", "Enter")
        wait_for_screen(lambda s: s.count("🔒") == 4)
        tmux("send-keys", "-t", "demo", "u")
        wait_for_screen(lambda s: s.count("🔒") == 0 and s.count("online") == 4)
        tmux("send-keys", "-t", "demo", "q")
        wait_for_screen(lambda s: "online" not in s)
    finally:
        tmux("kill-server")


async def test_do_sends_a_message_without_loading_what_it_does_not_need(room: Classroom) -> None:
    """`do` is timed from a new process (issue 7: message visible within 200 ms): it must not
    load the sealing code, the console's screens, shutil (argparse's terminal width), the
    IDNA codec (the standard library's TLS server name) or asyncio on the way."""
    await room.start_agent("Ada's laptop")
    credential = room.folder / "teacher.credential"
    credential.write_bytes(room.staff().encode())
    unneeded = (
        "protocol.sealing",
        "console.roster",
        "console.app",
        "PIL",
        "shutil",
        "encodings.idna",
        "platformdirs",
        "asyncio",
    )
    code = (
        "import sys\n"
        "from console.start import main\n"
        "status = main()\n"
        f"print(' '.join(m for m in {unneeded!r} if m in sys.modules) or '-', file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", code, "do", "message", "--to", "Ada's laptop", "text=Hello"),
        *("--credential", str(credential), "--wait", str(scaled(10))),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))},
    )
    async with asyncio.timeout(scaled(60)):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert out.decode() == "Ada's laptop: ok\n"
    assert err.decode().split() == ["-"]
