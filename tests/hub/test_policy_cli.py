"""A group's policy as an admin sets it: signed on their own machine with
`homeroom-console policy sign`, applied with `homeroom-hub policy set` and shown with
`policy show`; and a guardian's certificate naming their child's
device, from `homeroom-org certify-staff --device` to `homeroom-hub staff add`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hub.store import Store
from protocol.credentials import StaffCredential
from protocol.keys import PrivateKey

from ..policy_kit import EXAMPLE
from ..support import scaled
from .test_cli import certify, console_keys, hub, ok, org, set_up


def console_policy(*args: str) -> subprocess.CompletedProcess[str]:
    """`homeroom-console policy`, on the admin's own machine."""
    return subprocess.run(
        [sys.executable, "-m", "console", "policy", *args],
        capture_output=True, text=True, timeout=scaled(60), check=False,
    )  # fmt: skip


def test_an_admin_signs_on_their_machine_and_the_hub_applies_it(tmp_path: Path) -> None:
    data = set_up(tmp_path)
    certify(tmp_path, "Administrator", "--role", "admin")
    credential = tmp_path / "staff" / "Administrator" / "staff.credential"
    policy = tmp_path / "7B.toml"
    policy.write_text(EXAMPLE)
    shown = hub("policy", "show", "--data", str(data), "--group", "7B")
    assert "'7B' has no policy" in shown.stdout
    assert "homeroom-console policy set --group 7B FILE.toml" in shown.stdout
    signed = ok(
        console_policy("sign", "--group", "7B", str(policy), "--credential", str(credential))
    )
    sequence = int(signed.split()[2])  # "Signed policy N for ...": the time it was signed
    assert f"for '7B' as 'Administrator' in {tmp_path / '7B.signed'}" in signed
    assert "homeroom-hub policy set --data DIR --group 7B" in signed
    made = ok(
        hub("policy", "set", "--data", str(data), "--group", "7B", str(tmp_path / "7B.signed"))
    )
    assert f"Policy {sequence} for '7B' signed by 'Administrator'" in made
    shown = hub("policy", "show", "--data", str(data), "--group", "7B")
    assert f"Policy {sequence} for '7B', signed by 'Administrator'" in shown.stdout
    assert "window 'night': 21:00-06:30 every day; capture never; locks the device" in shown.stdout
    assert "guardian  pause" in shown.stdout
    # The same file again is not newer; the hub says which number to sign instead.
    again = hub("policy", "set", "--data", str(data), "--group", "7B", str(tmp_path / "7B.signed"))
    assert again.returncode == 2 and f"--sequence {sequence + 1}" in again.stderr
    audit = hub("audit", "--data", str(data)).stdout
    assert f"7B policy {sequence}: windows school, home, night" in audit
    assert "refused" in audit


def test_the_hub_signs_nothing_and_says_how_to_sign(tmp_path: Path) -> None:
    data = set_up(tmp_path)
    certify(tmp_path, "Administrator", "--role", "admin")
    credential = tmp_path / "staff" / "Administrator" / "staff.credential"
    policy = tmp_path / "7B.toml"
    policy.write_text(EXAMPLE)
    unsigned = hub("policy", "set", "--data", str(data), "--group", "7B", str(policy))
    assert unsigned.returncode == 2 and "no admin has signed" in unsigned.stderr
    assert "homeroom-console policy sign --group 7B 7B.toml --out 7B.signed" in unsigned.stderr
    # The admin's key is not wanted on the hub machine in any form.
    handed = hub(
        "policy", "set", "--data", str(data), "--group", "7B", str(policy),
        "--credential", str(credential),
    )  # fmt: skip
    assert handed.returncode == 2 and "the hub no longer signs policies" in handed.stderr
    # A signed policy altered on the way (here: the night lock dropped) is refused.
    ok(console_policy("sign", "--group", "7B", str(policy), "--credential", str(credential)))
    signed = tmp_path / "7B.signed"
    signed.write_text(signed.read_text().replace('"lock_device":true', '"lock_device":false'))
    altered = hub("policy", "set", "--data", str(data), "--group", "7B", str(signed))
    assert altered.returncode == 2 and "cannot set '7B'" in altered.stderr
    # Signed for another group, it is refused for this one.
    ok(console_policy("sign", "--group", "8C", str(policy), "--credential", str(credential)))
    other = hub("policy", "set", "--data", str(data), "--group", "7B", str(tmp_path / "7B.signed"))
    assert other.returncode == 2 and "policy for '8C', not '7B'" in other.stderr
    shown = hub("policy", "show", "--data", str(data), "--group", "7B")
    assert "'7B' has no policy" in shown.stdout


def test_a_mistake_or_a_teachers_key_is_refused_with_what_to_do(tmp_path: Path) -> None:
    set_up(tmp_path)
    certify(tmp_path, "Administrator", "--role", "admin")
    certify(tmp_path, "Ms Smith", "--role", "teacher", "--group", "7B")
    admin = tmp_path / "staff" / "Administrator" / "staff.credential"
    teacher = tmp_path / "staff" / "Ms Smith" / "staff.credential"
    wrong = tmp_path / "7B.toml"
    wrong.write_text(EXAMPLE.replace('start = "21:00"', 'start = "9pm"'))
    refused = console_policy("sign", "--group", "7B", str(wrong), "--credential", str(admin))
    line = next(n for n, text in enumerate(wrong.read_text().splitlines(), 1) if "9pm" in text)
    assert refused.returncode == 2
    assert f"7B.toml, line {line}: '9pm' is not a time of day" in refused.stderr
    good = tmp_path / "good.toml"
    good.write_text(EXAMPLE)
    refused = console_policy("sign", "--group", "7B", str(good), "--credential", str(teacher))
    assert refused.returncode == 2
    assert "only an admin may sign a policy" in refused.stderr
    assert not (tmp_path / "good.signed").exists()


def test_a_guardians_certificate_names_their_childs_device(tmp_path: Path) -> None:
    data = set_up(tmp_path)
    key = PrivateKey.generate().public
    with Store.open(data / "hub.sqlite3") as store:
        store.add_device(key.fingerprint, key.raw, "Ada's laptop", "7B", 1_800_000_000)
    # The admin reads the child's device id from the hub's fleet list, whole.
    listing = ok(hub("devices", "--data", str(data)))
    ada = next(line for line in listing.splitlines() if "Ada's laptop" in line).split()[-1]
    assert ada == key.fingerprint
    # Ada's mum makes her key on her own machine.
    home = tmp_path / "mum"
    credential, request = home / "staff.credential", home / "mum.request"
    home.mkdir()
    ok(console_keys("new", "Ada's mum", "--credential", str(credential), "--out", str(request)))

    def certify_mum(*how: str) -> subprocess.CompletedProcess[str]:
        return org(
            "--org", str(tmp_path / "org"), "certify-staff", str(request), "--role", "guardian",
            *how, "--out", str(home / "mum.cert"),
        )  # fmt: skip

    refused = certify_mum("--group", "7B")
    assert refused.returncode == 2 and "needs at least one --device" in refused.stderr
    by_name = certify_mum("--group", "7B", "--device", "Ada's laptop")
    assert by_name.returncode == 2 and "64 hex digits" in by_name.stderr
    teacher = org(
        "--org", str(tmp_path / "org"), "certify-staff", str(request), "--role", "teacher",
        "--group", "7B", "--device", ada,
    )  # fmt: skip
    assert teacher.returncode == 2 and "only a guardian's certificate names devices" in (
        teacher.stderr
    )
    # The organisation cannot see the fleet: the hub checks what it signed.
    stranger = PrivateKey.generate().public.fingerprint
    ok(certify_mum("--group", "7B", "--device", stranger))
    refused = hub("staff", "add", "--data", str(data), str(home / "mum.cert"))
    assert refused.returncode == 2
    assert f"no device {stranger}" in refused.stderr and "homeroom-hub devices" in refused.stderr
    ok(certify_mum("--group", "8C", "--device", ada))
    refused = hub("staff", "add", "--data", str(data), str(home / "mum.cert"))
    assert refused.returncode == 2 and "is in group '7B'" in refused.stderr
    assert "Ada's mum" not in hub("staff", "list", "--data", str(data)).stdout

    made = certify_mum("--group", "7B", "--device", ada)
    assert made.returncode == 0, made.stderr
    assert f"(guardian, groups 7B, devices {ada})" in made.stdout
    added = ok(hub("staff", "add", "--data", str(data), str(home / "mum.cert")))
    assert "They see and may pause only: Ada's laptop." in added
    card = data / "staff" / "Ada-s-mum.card"
    ok(console_keys("install", str(card), "--credential", str(credential)))
    installed = StaffCredential.decode(credential.read_bytes())
    assert installed.certificate.body.devices == (key.fingerprint,)
