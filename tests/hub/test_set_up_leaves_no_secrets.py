"""The documented set-up (docs/operations.md), step by step with the real commands: after
every step the hub's folder is scanned, file by file and parsed, for the organisation's
private key or any staff member's. Neither is ever there (issue 11)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
from pathlib import Path

import msgspec

from agent.enrollment import enroll
from console.organisation.folder import Organisation
from console.session import ConsoleSession
from hub.keyring import Keyring
from hub.server import Hub
from hub.store import Store
from protocol.credentials import StaffCredential
from protocol.keys import PrivateKey

from ..policy_kit import EVERY_WEEK
from ..support import scaled
from .secrets_scan import files_holding, private_keys_in
from .test_cli import _free_port, console_keys, hub, ok, org
from .test_policy_cli import console_policy

PASSPHRASE = "correct horse battery staple"


class Inspector:
    """Scans the hub's folder for the secrets made so far, and names the step that leaked."""

    def __init__(self, data: Path, organisation: Path) -> None:
        self.data, self.organisation = data, organisation
        self.steps: list[str] = []
        self.staff: dict[str, PrivateKey] = {}

    def secrets(self) -> dict[str, PrivateKey]:
        found = dict(self.staff)
        if (self.organisation / "org.key").exists():
            found["organisation"] = Organisation.open(self.organisation, PASSPHRASE).key
        return found

    def after(self, step: str) -> None:
        self.steps.append(step)
        opened = {found.public for found in private_keys_in(self.data)}
        if (self.data / "hub.key").exists():  # the scan finds what it should
            assert PrivateKey.from_bytes((self.data / "hub.key").read_bytes()).public.raw in opened
        for owner, key in self.secrets().items():
            assert key.public.raw not in opened, f"{owner}'s private key in the hub's folder"
            assert files_holding(self.data, key.to_bytes()) == [], f"{owner}, after {step}"
        if (self.organisation / "org.key").exists():
            sealed = (self.organisation / "org.key").read_bytes()
            assert files_holding(self.data, sealed) == [], f"sealed org key, after {step}"


def test_the_scan_finds_a_key_however_it_is_kept(tmp_path: Path) -> None:
    """The scanner would catch a leak: raw, hex in JSON, base64 in JSON, in a database row."""
    key = PrivateKey.generate()
    (tmp_path / "a").write_bytes(key.to_bytes())
    (tmp_path / "b.json").write_text(f'{{"x": {{"secret": "{key.to_bytes().hex()}"}}}}')
    (tmp_path / "c.json").write_bytes(msgspec.json.encode({"private_key": key.to_bytes()}))
    db = sqlite3.connect(tmp_path / "d.sqlite3")
    db.execute("CREATE TABLE t (v)")
    db.execute("INSERT INTO t VALUES (?)", (key.to_bytes(),))
    db.commit()
    db.close()
    places = [f.where for f in private_keys_in(tmp_path) if f.public == key.public.raw]
    assert places == ["a", "b.json", "c.json", "d.sqlite3:t"]


async def test_no_private_key_of_the_organisation_or_staff_reaches_the_hubs_folder(
    tmp_path: Path,
) -> None:
    data, organisation, usb = tmp_path / "hub", tmp_path / "usb" / "org", tmp_path / "usb"
    check = Inspector(data, organisation)
    env_org = ("--org", str(organisation))

    port = _free_port()
    ok(hub("init", "--data", str(data), "--name", "127.0.0.1", "--url", f"wss://127.0.0.1:{port}"))
    check.after("1. homeroom-hub init")
    ok(org(*env_org, "init"))
    check.after("2. homeroom-org init (on the admin's machine)")
    shutil.copy(data / "hub.request", usb / "hub.request")  # carried on the stick
    ok(org(*env_org, "certify-hub", str(usb / "hub.request")))
    check.after("3. homeroom-org certify-hub")
    ok(hub("certificate", "install", "--data", str(data), str(usb / "hub.grant")))
    check.after("4. homeroom-hub certificate install")
    token = ok(hub("token", "create", "--data", str(data), "--group", "7B")).strip()
    check.after("5. homeroom-hub token create")

    credentials: dict[str, Path] = {}
    for name, role in (
        ("Administrator", ["--role", "admin"]),
        ("Ms Smith", ["--role", "teacher", "--group", "7B"]),
    ):
        home = tmp_path / name  # their own machine
        credential, request = home / "staff.credential", home / "me.request"
        ok(console_keys("new", name, "--credential", str(credential), "--out", str(request)))
        check.staff[name] = PrivateKey.from_bytes((home / "staff.key").read_bytes())
        check.after(f"6. {name}: homeroom-console keys new")
        shutil.copy(request, usb / "me.request")
        ok(
            org(
                *env_org,
                "certify-staff",
                str(usb / "me.request"),
                *role,
                "--out",
                str(usb / "me.cert"),
            )
        )
        check.after(f"7. {name}: homeroom-org certify-staff")
        ok(hub("staff", "add", "--data", str(data), str(usb / "me.cert")))
        check.after(f"8. {name}: homeroom-hub staff add")
        card = data / "staff" / f"{name.replace(' ', '-')}.card"
        ok(console_keys("install", str(card), "--credential", str(credential)))
        check.after(f"9. {name}: homeroom-console keys install")
        credentials[name] = credential

    # An admin signs a group's policy on their own machine; the signed file is carried over.
    policy = tmp_path / "Administrator" / "7B.toml"
    policy.write_text(EVERY_WEEK)
    signed = ok(
        console_policy(
            "sign", "--group", "7B", str(policy), "--out", str(usb / "7B.signed"),
            "--credential", str(credentials["Administrator"]),
        )
    )  # fmt: skip
    sequence = int(signed.split()[2])
    check.after("9b. homeroom-console policy sign (on the admin's machine)")
    ok(hub("policy", "set", "--data", str(data), "--group", "7B", str(usb / "7B.signed")))
    check.after("9c. homeroom-hub policy set FILE.signed")

    # The hub serves: a device enrols, the teacher signs in, and the admin sets the next
    # policy over their own session (the store and its WAL move).
    keyring = Keyring.load(data)
    with Store.open(keyring.store_path) as store:
        async with Hub(keyring, store).serve("127.0.0.1", port):
            await enroll(token, "Ada's laptop", tmp_path / "ada")
            teacher = StaffCredential.decode(credentials["Ms Smith"].read_bytes())
            session = ConsoleSession(teacher)
            await session.connect()
            check.after("10. homeroom-hub serve: a device enrols, a teacher signs in")
            await session.close()
            admin = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "console", "policy", "set", "--group", "7B", str(policy),
                "--sequence", str(sequence + 1),
                "--credential", str(credentials["Administrator"]),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            async with asyncio.timeout(scaled(60)):
                out, err = await admin.communicate()
            assert admin.returncode == 0, out + err
            assert f"Policy {sequence + 1} for '7B' set on the hub".encode() in out
            check.after("10b. homeroom-console policy set (over the admin's session)")

    serial = StaffCredential.decode(credentials["Ms Smith"].read_bytes()).certificate.body.serial
    ok(hub("staff", "revoke", "--data", str(data), serial))
    ok(org(*env_org, "revoke", serial, "--out", str(usb / "revocation.json")))
    ok(hub("revocation", "install", "--data", str(data), str(usb / "revocation.json")))
    check.after("11. revoke: homeroom-hub staff revoke, homeroom-org revoke, revocation install")
    assert len(check.steps) == 18
