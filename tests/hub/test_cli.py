"""`homeroom-hub` as IT runs it: init, tokens, staff credentials, classes, devices, audit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from protocol.credentials import StaffCredential
from protocol.tokens import parse_token

from ..support import scaled


def hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )


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
    assert "organisation key" in made.stdout and "admin credential" in made.stdout
    for secret in ("org.key", "hub.key", "tls-key.pem", "staff/Administrator.credential"):
        assert os.stat(data / secret).st_mode & 0o077 == 0, secret
    again = hub("init", "--data", str(data))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr

    token = hub("token", "create", "--data", str(data), "--group", "7B", "--uses", "30")
    assert token.returncode == 0
    parsed = parse_token(token.stdout.strip())
    assert parsed.group == "7B" and parsed.max_uses == 30
    assert parsed.hub_url == "wss://hub.school.example:8443"

    staff = hub(
        "staff", "add", "--data", str(data), "Ms Smith", "--role", "teacher", "--group", "7B"
    )
    assert staff.returncode == 0, staff.stderr
    credential = StaffCredential.decode((data / "staff" / "Ms-Smith.credential").read_bytes())
    assert credential.certificate.body.groups == ("7B",)
    no_group = hub("staff", "add", "--data", str(data), "Mr Jones", "--role", "teacher")
    assert no_group.returncode == 2 and "--group" in no_group.stderr

    listing = hub("staff", "list", "--data", str(data))
    assert "Ms Smith" in listing.stdout and "Administrator" in listing.stdout
    serial = credential.certificate.body.serial
    assert hub("staff", "revoke", "--data", str(data), serial).returncode == 0
    assert "revoked" in hub("staff", "list", "--data", str(data)).stdout

    assert hub("class", "create", "--data", str(data), "7B-maths", "--group", "7B").returncode == 0
    assert "7B-maths [7B]: (empty)" in hub("class", "list", "--data", str(data)).stdout
    audit = hub("audit", "--data", str(data))
    assert audit.returncode == 0 and "audit chain intact" in audit.stdout
    assert "staff_revoke" in audit.stdout


def test_a_missing_hub_says_how_to_make_one(tmp_path: Path) -> None:
    result = hub("devices", "--data", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "homeroom-hub init --data" in result.stderr


def test_plain_websockets_only_on_loopback(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    assert hub("init", "--data", str(data)).returncode == 0
    result = hub("serve", "--data", str(data), "--host", "0.0.0.0", "--insecure-loopback")
    assert result.returncode == 2 and "loopback" in result.stderr


def test_group_names_are_checked_where_they_are_typed(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    assert hub("init", "--data", str(data)).returncode == 0
    result = hub("token", "create", "--data", str(data), "--group", "7B; DROP TABLE")
    assert result.returncode == 2 and "not a group name" in result.stderr


def test_tokens_are_listed_and_revoked_and_devices_removed(tmp_path: Path) -> None:
    import asyncio
    import time

    from agent.enrollment import enroll
    from hub.keyring import Keyring
    from hub.server import Hub
    from hub.store import Store

    data = tmp_path / "hub"
    assert hub("init", "--data", str(data)).returncode == 0
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
