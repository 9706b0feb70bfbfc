"""`homeroom-hub` as IT runs it, with `homeroom-org` and `homeroom-console keys` beside it:
init, the hub's certificate, tokens, staff certificates, revocation, classes, devices, audit."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from console.session import ConsoleSession
from protocol.codec import decode_as
from protocol.credentials import StaffCredential
from protocol.revocation import RevocationList
from protocol.tokens import parse_token

from ..support import scaled
from ..xvfb import poll_until


def hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )


def org(*args: str) -> subprocess.CompletedProcess[str]:
    """`homeroom-org`, on the admin's machine; its passphrase comes from the environment."""
    return subprocess.run(
        [sys.executable, "-m", "console.organisation", *args],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
        env={**os.environ, "HOMEROOM_ORG_PASSPHRASE": "correct horse battery staple"},
    )


def console_keys(*args: str) -> subprocess.CompletedProcess[str]:
    """`homeroom-console keys`, on the staff member's own machine."""
    return subprocess.run(
        [sys.executable, "-m", "console", "keys", *args],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def set_up(tmp_path: Path, *init: str) -> Path:
    """The documented set-up: the organisation, a hub it certifies; returns the hub's folder."""
    data, organisation = tmp_path / "hub", tmp_path / "org"
    ok(org("--org", str(organisation), "init"))
    ok(hub("init", "--data", str(data), *init))
    ok(org("--org", str(organisation), "certify-hub", str(data / "hub.request")))
    ok(hub("certificate", "install", "--data", str(data), str(data / "hub.grant")))
    return data


def certify(
    tmp_path: Path, name: str, *roles: str, data: Path | None = None
) -> tuple[StaffCredential, subprocess.CompletedProcess[str]]:
    """A staff member makes a key on their machine, the organisation certifies it, the hub
    records it, and they install the card; returns their credential and the org's answer."""
    data = data or tmp_path / "hub"
    home = tmp_path / "staff" / name
    credential, request = home / "staff.credential", home / "me.request"
    home.mkdir(parents=True)
    ok(console_keys("new", name, "--credential", str(credential), "--out", str(request)))
    certified = org("--org", str(tmp_path / "org"), "certify-staff", str(request), *roles)
    if certified.returncode == 0:
        ok(hub("staff", "add", "--data", str(data), str(next(home.glob("*.cert")))))
        card = next((data / "staff").glob("*.card"))
        ok(console_keys("install", str(card), "--credential", str(credential)))
        card.unlink()
        return StaffCredential.decode(credential.read_bytes()), certified
    return None, certified  # type: ignore[return-value]


def test_an_admin_sets_up_a_hub(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    made = hub(
        "init",
        "--data",
        str(data),
        "--url",
        "wss://hub.school.example:8443",
        "--name",
        "hub.school.example",
    )
    assert made.returncode == 0, made.stderr
    assert "certify-hub" in made.stdout and "organisation key" not in made.stdout
    for secret in ("hub.key", "tls-key.pem"):
        assert os.stat(data / secret).st_mode & 0o077 == 0, secret
    assert not (data / "org.key").exists()
    # Until the organisation certifies it, the hub says what to do rather than serve.
    early = hub("token", "create", "--data", str(data), "--group", "7B")
    assert early.returncode == 2 and "certify-hub" in early.stderr
    ok(org("--org", str(tmp_path / "org"), "init"))
    # The organisation's key is sealed under its passphrase, and mode 0600.
    assert os.stat(tmp_path / "org" / "org.key").st_mode & 0o077 == 0
    assert b"scrypt" in (tmp_path / "org" / "org.key").read_bytes()
    ok(org("--org", str(tmp_path / "org"), "certify-hub", str(data / "hub.request")))
    ok(hub("certificate", "install", "--data", str(data), str(data / "hub.grant")))
    again = hub("init", "--data", str(data))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr

    token = hub("token", "create", "--data", str(data), "--group", "7B", "--uses", "30")
    assert token.returncode == 0
    parsed = parse_token(token.stdout.strip())
    assert parsed.group == "7B" and parsed.max_uses == 30
    assert parsed.hub_url == "wss://hub.school.example:8443"

    credential, _ = certify(tmp_path, "Ms Smith", "--role", "teacher", "--group", "7B")
    assert credential.certificate.body.groups == ("7B",)
    assert credential.hub_url == "wss://hub.school.example:8443"
    _, no_group = certify(tmp_path, "Mr Jones", "--role", "teacher")
    assert no_group.returncode == 2 and "--group" in no_group.stderr

    listing = hub("staff", "list", "--data", str(data))
    assert "Ms Smith" in listing.stdout and "Mr Jones" not in listing.stdout
    serial = credential.certificate.body.serial
    assert hub("staff", "revoke", "--data", str(data), serial).returncode == 0
    assert "revoked" in hub("staff", "list", "--data", str(data)).stdout
    # A serial the hub never recorded (a certificate minted elsewhere) is revoked too...
    assert hub("staff", "revoke", "--data", str(data), "ab" * 16).returncode == 0
    assert "ab" * 16 in hub("staff", "list", "--data", str(data)).stdout
    # ...but a cut-down one is refused with what to copy instead.
    short = hub("staff", "revoke", "--data", str(data), serial[:8])
    assert short.returncode == 2 and "32 hex digits" in short.stderr
    # Devices check a list the organisation signs off the hub; the hub carries it.
    signed_here = tmp_path / "revocation.json"
    ok(org("--org", str(tmp_path / "org"), "revoke", serial, "cd" * 16, "--out", str(signed_here)))
    ok(hub("revocation", "install", "--data", str(data), str(signed_here)))
    signed = decode_as((data / "revocation.json").read_bytes(), RevocationList, "list")
    assert (signed.body.sequence, set(signed.body.serials)) == (1, {serial, "cd" * 16})
    assert "cd" * 16 in hub("staff", "list", "--data", str(data)).stdout

    assert hub("class", "create", "--data", str(data), "7B-maths", "--group", "7B").returncode == 0
    assert "7B-maths [7B]: (empty)" in hub("class", "list", "--data", str(data)).stdout
    audit = hub("audit", "--data", str(data))
    assert audit.returncode == 0 and "audit chain intact" in audit.stdout
    assert "staff_revoke" in audit.stdout and "revocation_install" in audit.stdout


def test_a_missing_hub_says_how_to_make_one(tmp_path: Path) -> None:
    result = hub("devices", "--data", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "homeroom-hub init --data" in result.stderr


def test_plain_websockets_only_on_loopback(tmp_path: Path) -> None:
    data = set_up(tmp_path)
    result = hub("serve", "--data", str(data), "--host", "0.0.0.0", "--insecure-loopback")
    assert result.returncode == 2 and "loopback" in result.stderr
    # Behind a TLS proxy the hop from the proxy is plain: on this machine only.
    result = hub("serve", "--data", str(data), "--host", "0.0.0.0", "--behind-proxy")
    assert result.returncode == 2 and "--behind-proxy needs a loopback" in result.stderr


def test_group_names_are_checked_where_they_are_typed(tmp_path: Path) -> None:
    data = set_up(tmp_path)
    result = hub("token", "create", "--data", str(data), "--group", "7B; DROP TABLE")
    assert result.returncode == 2 and "not a group name" in result.stderr


def test_tokens_are_listed_and_revoked_and_devices_removed(tmp_path: Path) -> None:
    import asyncio
    import time

    from agent.enrollment import enroll
    from hub.keyring import Keyring
    from hub.server import Hub
    from hub.store import Store

    data = set_up(tmp_path)
    assert hub("token", "create", "--data", str(data), "--group", "7B").returncode == 0
    listing = hub("token", "list", "--data", str(data))
    token_id = listing.stdout.splitlines()[1].split()[0]
    assert "0/1" in listing.stdout and "usable" in listing.stdout
    assert hub("token", "revoke", "--data", str(data), token_id).returncode == 0
    assert "revoked" in hub("token", "list", "--data", str(data)).stdout

    async def enrol_one() -> None:
        keyring = Keyring.load(data)
        with Store.open(keyring.store_path) as store:
            async with Hub(keyring, store).serve("127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                from hub.admin import create_token

                token = create_token(
                    keyring,
                    store,
                    group="7B",
                    uses=1,
                    lifetime=60,
                    now=int(time.time()),
                    hub_url=f"wss://127.0.0.1:{port}",
                )
                await enroll(token.encode(), "Ada's laptop", tmp_path / "ada")

    asyncio.run(enrol_one())
    assert "Ada's laptop" in hub("devices", "--data", str(data)).stdout
    removed = hub("devices", "--data", str(data), "--remove", "Ada's laptop")
    assert removed.returncode == 0, removed.stderr
    assert "Ada's laptop" not in hub("devices", "--data", str(data)).stdout


@pytest.mark.parametrize(
    "where", ["before", "between", "after"], ids=["--data first", "in the middle", "at the end"]
)
def test_data_and_verbose_go_where_people_put_them(tmp_path: Path, where: str) -> None:
    data = set_up(tmp_path)
    certify(tmp_path, "Administrator", "--role", "admin")
    options = ["--data", str(data), "-v"]
    argv = {
        "before": [*options, "staff", "list"],
        "between": ["staff", *options, "list"],
        "after": ["staff", "list", *options],
    }[where]
    listed = hub(*argv)
    assert listed.returncode == 0, listed.stderr
    assert "Administrator" in listed.stdout


def test_a_missing_data_folder_is_named_with_the_commands_usage() -> None:
    result = hub("token", "create", "--group", "7B")
    assert result.returncode == 2
    assert "usage: homeroom-hub token create" in result.stderr
    assert "required: --data" in result.stderr


def test_serve_listens_where_devices_dial_and_says_when_it_cannot(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = set_up(tmp_path, "--url", f"wss://127.0.0.1:{port}")
        result = hub("serve", "--data", str(data), "--host", "127.0.0.1")  # port from --url
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot listen on 127.0.0.1 port {port}" in result.stderr
    assert "choose another --port" in result.stderr


# --- Every hint is a command that works ---------------------------------------------
# The three programs end many messages with the command to run next. This story sets up
# a school the way IT would, collects every command printed along the way (after init,
# token create, enroll, staff add, in --help, and after errors such as "not enrolled"),
# and runs each one as printed: one-shot commands must succeed, `serve` must listen,
# `run` must bring its device online, and the console must sign in, in a real terminal.

_HINT = re.compile(
    r"(?<![\w`/-])homeroom-(?:hub|agent|console|org)(?=\s|$)"
    r"(?:[ \t]+(?!\()(?:[^\s\"'()]|\"[^\"]*\"|'[^']*')+)*"
)


def printed_hints(text: str) -> list[str]:
    """The commands in a program's output, as a person would copy them."""
    hints: list[str] = []
    for line in text.splitlines():
        if not line.lstrip().startswith("usage:"):  # a synopsis, not a command to run
            hints += [match.group(0).rstrip(".,;:") for match in _HINT.finditer(line)]
    return hints


def test_hints_are_read_as_a_person_copies_them() -> None:
    assert printed_hints("Now run: homeroom-agent run --state /x/ada.\n") == [
        "homeroom-agent run --state /x/ada"
    ]
    assert printed_hints(
        '  e.g.  homeroom-console do message --to "Ada\'s laptop" text="Hi there" --json'
    ) == ['homeroom-console do message --to "Ada\'s laptop" text="Hi there" --json']
    assert printed_hints("then run: homeroom-agent enroll TOKEN (ask IT for a token)") == [
        "homeroom-agent enroll TOKEN"
    ]
    assert printed_hints("`homeroom-agent`: enrol this device\nusage: homeroom-hub [-h]") == []


class Background:
    """A long-running command (a hub, an agent) and what it has logged so far."""

    def __init__(self, process: asyncio.subprocess.Process, hint: str) -> None:
        self.process = process
        self.hint = hint
        self.log = ""
        self._grew = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.log += line.decode(errors="replace")
            self._grew.set()
        self._grew.set()

    async def until_logged(self, text: str) -> None:
        async with asyncio.timeout(scaled(30)):
            while text not in self.log:
                assert not self._reader.done(), f"{self.hint!r} exited:\n{self.log}"
                self._grew.clear()
                await self._grew.wait()

    def check_running(self) -> None:
        assert self.process.returncode is None, f"{self.hint!r} exited:\n{self.log}"

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
        await self.process.wait()
        await self._reader


class Watcher:
    """The admin's own console session, to see devices come online."""

    def __init__(self, session: ConsoleSession) -> None:
        self.session = session
        self._changed = asyncio.Event()
        self._pump = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        async for _ in self.session:
            self._changed.set()

    async def until_online(self, device_id: str) -> None:
        async with asyncio.timeout(scaled(30)):
            while not ((d := self.session.devices.get(device_id)) and d.online):
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        await self.session.close()
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)


@dataclass
class School:
    """A school set up from the shell, which follows every hint its commands print."""

    tmp: Path
    data: Path
    env: dict[str, str]
    desk: Path  # the working folder the commands are typed in
    substitutes: dict[str, str] = field(default_factory=dict)
    followed: list[str] = field(default_factory=list)
    shapes: set[tuple[str, ...]] = field(default_factory=set)
    running: list[Background] = field(default_factory=list)
    watcher: Watcher | None = None
    tmux_socket: str = ""
    consoles_opened: int = 0

    async def run(self, command: str, expect: int = 0, *, follow: bool = True) -> str:
        """Run a command line typed by IT; then follow each hint it prints (unless told)."""
        code, out, err = await self._execute(shlex.split(command))
        assert code == expect, f"{command} -> {code}\n{out}\n{err}"
        for hint in printed_hints(out + err) if follow else []:
            await self.follow(hint)
        return out

    async def _execute(self, argv: list[str]) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.desk,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(scaled(60)):
            out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    def _shape(self, argv: list[str]) -> tuple[str, ...]:
        """The hint with its folders left out: each distinct command is followed once."""
        return tuple("DIR" if a.startswith(str(self.tmp)) else a for a in argv)

    async def follow(self, hint: str) -> None:
        argv = [self.substitutes.get(word, word) for word in shlex.split(hint)]
        shape = self._shape(argv)
        if shape in self.shapes:
            return
        self.shapes.add(shape)
        self.followed.append(hint)
        if "TOKEN" in argv:  # the token is on stdout of token create; a fresh one each time
            argv[argv.index("TOKEN")] = await self.token()
        program, rest = argv[0], argv[1:]
        if program == "homeroom-hub" and rest[:1] == ["serve"]:
            await self._serve(argv, hint)
        elif program == "homeroom-agent" and "run" in rest:
            await self._run_agent(argv, hint)
        elif program == "homeroom-console" and not {"do", "keys", "session", "-h", "--help"} & set(
            rest
        ):
            await asyncio.to_thread(self._open_console, argv, hint)
        else:
            code, out, err = await self._execute(argv)
            assert code == 0 and "usage:" not in err, f"{hint!r} -> {code}\n{out}\n{err}"
            for printed in printed_hints(out + err):
                await self.follow(printed)

    async def token(self) -> str:
        code, out, err = await self._execute(
            ["homeroom-hub", "token", "create", "--data", str(self.data), "--group", "7B"]
        )
        assert code == 0, err
        return out.strip()

    async def _serve(self, argv: list[str], hint: str) -> None:
        hub = await self._start(argv, hint)
        await hub.until_logged("hub listening")

    async def watch(self, admin: Path) -> None:
        """The admin signs in to see devices come online, once the hub serves."""
        session = ConsoleSession(StaffCredential.decode(admin.read_bytes()))
        await session.connect()
        self.watcher = Watcher(session)

    async def _run_agent(self, argv: list[str], hint: str) -> None:
        folder = (
            Path(argv[argv.index("--state") + 1])
            if "--state" in argv
            else Path(self.env["XDG_CONFIG_HOME"]) / "homeroom-agent"
        )
        device_id = msgspec.json.decode((folder / "device.json").read_bytes())["device_id"]
        agent = await self._start(argv, hint)
        assert self.watcher is not None, "a hub is served before any agent runs"
        await self.watcher.until_online(device_id)
        agent.check_running()

    async def _start(self, argv: list[str], hint: str) -> Background:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.desk,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.running.append(Background(process, hint))
        return self.running[-1]

    def _tmux(self, *args: str, check: bool = False) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.tmux_socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=scaled(20),
        )
        # A terminal that never opened would otherwise look like a console that drew nothing.
        assert not check or done.returncode == 0, f"tmux {args[0]}: {done.stderr}"
        return done.stdout

    def _open_console(self, argv: list[str], hint: str) -> None:
        """The console app in a real terminal: it must sign in, then quit cleanly on q."""
        exports = " ".join(f"{k}={shlex.quote(self.env[k])}" for k in ("PATH", "XDG_CONFIG_HOME"))
        script = (
            f"cd {shlex.quote(str(self.desk))} && export {exports}; "
            f"{shlex.join(argv)}; echo console-exited-$?; read done"
        )
        # A tmux server of its own for each console: the last one's may still be exiting.
        self.consoles_opened += 1
        self.tmux_socket = f"homeroom-hints-{os.getpid()}-{self.consoles_opened}"
        self._tmux("new-session", "-d", "-s", "hint", "-x", "140", "-y", "45", script, check=True)
        try:

            def screen() -> str:
                return self._tmux("capture-pane", "-p", "-t", "hint")

            poll_until(lambda: "Signed in" in screen(), 60, lambda: f"{hint!r}:\n{screen()}", 0.2)
            self._tmux("send-keys", "-t", "hint", "q")
            poll_until(lambda: "console-exited-" in screen(), 30, screen, 0.2)
            assert "console-exited-0" in screen(), f"{hint!r}:\n{screen()}"
        finally:
            self._tmux("kill-server")

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.close()
        for background in reversed(self.running):
            await background.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_every_hint_the_commands_print_is_a_command_that_works(
    tmp_path: Path, xvfb_display: str
) -> None:
    desk = tmp_path / "desk"
    desk.mkdir()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # where agent and console keep files
        "DISPLAY": xvfb_display,
    }
    school = School(tmp_path, tmp_path / "hub", env, desk)
    data, tmp = school.data, tmp_path
    admin = desk / "admin.credential"
    school.env["HOMEROOM_ORG_PASSPHRASE"] = "correct horse battery staple"
    school.substitutes |= {"ORG": str(tmp / "org"), "DATA": str(data), "FILE": str(admin)}
    try:
        # On the admin's machine; it prints sentences, no command (nothing to certify yet).
        await school.run(f"homeroom-org --org {tmp}/org init")
        await school.run(  # -> org certify-hub -> certificate install -> serve
            f"homeroom-hub init --data {data} --url wss://127.0.0.1:{_free_port()} --name 127.0.0.1"
        )
        # The first admin, as any staff member: their own key, certified, recorded, installed
        # (in a credential file of their choosing, which the hints cannot know).
        await school.run(
            f"homeroom-console keys new Administrator --credential {admin} --out admin.request"
        )
        await school.run(
            f"homeroom-org --org {tmp}/org certify-staff admin.request --role admin", follow=False
        )
        await school.run(f"homeroom-hub staff add --data {data} Administrator.cert", follow=False)
        await school.run(
            f"homeroom-console keys install {data}/staff/Administrator.card --credential {admin}",
            follow=False,
        )
        await school.watch(admin)
        # A device not yet enrolled -> enroll TOKEN -> run (in the default folder).
        await school.run("homeroom-agent run", expect=2)
        token = await school.run(f"homeroom-hub token create --data {data} --group 7B")
        # Options after the command, as the hints print them -> run --state DIR.
        await school.run(
            f'homeroom-agent enroll {token.strip()} --name "Ada\'s laptop" --state {tmp}/ada'
        )
        # A folder with no device in it -> enroll TOKEN --state DIR.
        await school.run(f"homeroom-agent run --state {tmp}/nobody", expect=2)
        # No hub there -> init --data DIR.
        await school.run(f"homeroom-hub devices --data {tmp}/nowhere", expect=2)
        # No credential in the console's folder -> keys --help, --credential FILE, --demo.
        await school.run("homeroom-console", expect=1)
        # A teacher makes their key in the console's own folder -> (org) staff add -> keys
        # install -> homeroom-console, in a terminal.
        await school.run('homeroom-console keys new "Ms Smith"')
        await school.run(
            f"homeroom-org --org {tmp}/org certify-staff Ms-Smith.request --role teacher --group 7B"
        )
        # What the do examples assume.
        shutil.copy(
            tmp / "config" / "homeroom-console" / "staff.credential", desk / "me.credential"
        )
        apps = [{"name": "calculator", "argv": [sys.executable, "-c", "pass"]}]
        (desk / "apps.json").write_text(json.dumps(apps))
        await school.run(f"homeroom-hub class create --data {data} 7B-maths --group 7B")
        await school.run(f'homeroom-hub class add --data {data} 7B-maths "Ada\'s laptop"')
        # -> homeroom-console do --help -> its two examples.
        for program in ("homeroom-hub", "homeroom-agent", "homeroom-console"):
            await school.run(f"{program} --help")
        for background in school.running:
            background.check_running()
    finally:
        await school.close()
    followed = [hint.replace(str(tmp_path), "DIR") for hint in school.followed]
    print("hints followed:", *followed, sep="\n  ")
    assert followed == [
        "homeroom-org --org ORG certify-hub DIR/hub/hub.request",
        "homeroom-hub certificate install --data DATA DIR/hub/hub.grant",
        "homeroom-hub serve --data DIR/hub",
        "homeroom-agent enroll TOKEN",
        "homeroom-agent run",
        "homeroom-agent run --state DIR/ada",
        "homeroom-agent enroll TOKEN --state DIR/nobody",
        "homeroom-hub init --data DIR/nowhere",
        "homeroom-console keys --help",
        "homeroom-console --credential FILE",
        "homeroom-console --demo",
        "homeroom-hub staff add --data DATA Ms-Smith.cert",
        "homeroom-console keys install DIR/hub/staff/Ms-Smith.card",
        "homeroom-console",
        "homeroom-console do --help",
        "homeroom-console session start --class 7B-maths --credential me.credential",
        'homeroom-console do lock --class 7B-maths message="Eyes on me" --credential me.credential',
        """homeroom-console do message --to "Ada's laptop" text="Come and see me" --json""",
        "homeroom-console do set_apps --class 7B-maths group=7B apps=@apps.json"
        " --credential admin.credential",
    ]


def test_an_older_hub_moves_its_organisation_key_off(tmp_path: Path) -> None:
    """A hub set up before issue 11 kept org.key in its folder: it will not start so, and
    the documented steps move the key off without re-enrolling anyone."""
    from hub.keyring import Keyring

    data = set_up(tmp_path)
    old = org_key_of(tmp_path / "org")
    (data / "org.key").write_bytes(old.to_bytes())  # as the older `init` left it
    (data / "org.pub").unlink()
    refused = hub("devices", "--data", str(data))
    assert refused.returncode == 2 and "Moving the organisation key off" in refused.stderr
    adopted = tmp_path / "adopted"
    ok(org("--org", str(adopted), "init", "--adopt", str(data / "org.key")))
    (data / "org.key").unlink()
    ok(hub("certificate", "request", "--data", str(data)))
    ok(org("--org", str(adopted), "certify-hub", str(data / "hub.request")))
    ok(hub("certificate", "install", "--data", str(data), str(data / "hub.grant")))
    assert Keyring.load(data).org_public == old.public
    assert old.to_bytes() not in (adopted / "org.key").read_bytes()  # sealed now


def org_key_of(folder: Path):  # type: ignore[no-untyped-def]
    from console.organisation.folder import Organisation

    return Organisation.open(folder, "correct horse battery staple").key
