"""`homeroom-hub policy set` and `policy show` as an admin runs them, with their own
credential from their own machine; and a guardian's certificate naming their child's
device, from `homeroom-org certify-staff --device` to `homeroom-hub staff add`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hub.store import Store
from protocol.credentials import StaffCredential
from protocol.keys import PrivateKey

from ..policy_kit import EXAMPLE
from ..support import scaled
from .test_cli import certify, console_keys, hub, ok, org, set_up


def test_an_admin_sets_and_shows_a_groups_policy(tmp_path: Path) -> None:
    data = set_up(tmp_path)
    certify(tmp_path, "Administrator", "--role", "admin")
    credential = tmp_path / "staff" / "Administrator" / "staff.credential"
    policy = tmp_path / "7B.toml"
    policy.write_text(EXAMPLE)
    shown = hub("policy", "show", "--data", str(data), "--group", "7B")
    assert "'7B' has no policy" in shown.stdout
    made = hub(
        "policy", "set", "--data", str(data), "--group", "7B", str(policy),
        "--credential", str(credential),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "Policy 1 for '7B' signed by 'Administrator'" in made.stdout
    # The hub's account may not read the admin's file: the shell hands it over instead.
    with credential.open("rb") as given:
        made = subprocess.run(
            [sys.executable, "-m", "hub", "policy", "set", "--data", str(data),
             "--group", "7B", str(policy), "--credential", "-"],
            stdin=given, capture_output=True, text=True, timeout=scaled(60), check=False,
        )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "Policy 2 for '7B' signed by 'Administrator'" in made.stdout
    shown = hub("policy", "show", "--data", str(data), "--group", "7B")
    assert "Policy 2 for '7B', signed by 'Administrator'" in shown.stdout
    assert "window 'night': 21:00-06:30 every day; capture never; locks the device" in shown.stdout
    assert "guardian  pause" in shown.stdout
    audit = hub("audit", "--data", str(data)).stdout
    assert "policy_set" in audit and "7B policy 2: windows school, home, night" in audit


def test_the_signing_credential_never_comes_from_the_hubs_folder(tmp_path: Path) -> None:
    data = set_up(tmp_path)
    certify(tmp_path, "Administrator", "--role", "admin")
    policy = tmp_path / "7B.toml"
    policy.write_text(EXAMPLE)
    unnamed = hub("policy", "set", "--data", str(data), "--group", "7B", str(policy))
    assert unnamed.returncode == 2 and "--credential" in unnamed.stderr
    # A copy left in the hub's folder is refused, not used: it would hand a thief the key.
    copy = data / "staff" / "admin.credential"
    shutil.copy(tmp_path / "staff" / "Administrator" / "staff.credential", copy)
    refused = hub(
        "policy", "set", "--data", str(data), "--group", "7B", str(policy),
        "--credential", str(copy),
    )  # fmt: skip
    assert refused.returncode == 2
    assert "in the hub's folder" in refused.stderr and "private key" in refused.stderr
    shown = hub("policy", "show", "--data", str(data), "--group", "7B")
    assert "'7B' has no policy" in shown.stdout


def test_a_mistake_or_a_teachers_key_is_refused_with_what_to_do(tmp_path: Path) -> None:
    data = set_up(tmp_path)
    certify(tmp_path, "Ms Smith", "--role", "teacher", "--group", "7B")
    teacher = tmp_path / "staff" / "Ms Smith" / "staff.credential"
    wrong = tmp_path / "7B.toml"
    wrong.write_text(EXAMPLE.replace('start = "21:00"', 'start = "9pm"'))
    refused = hub(
        "policy", "set", "--data", str(data), "--group", "7B", str(wrong),
        "--credential", str(teacher),
    )  # fmt: skip
    line = next(n for n, text in enumerate(wrong.read_text().splitlines(), 1) if "9pm" in text)
    assert refused.returncode == 2
    assert f"7B.toml, line {line}: '9pm' is not a time of day" in refused.stderr
    good = tmp_path / "good.toml"
    good.write_text(EXAMPLE)
    refused = hub(
        "policy", "set", "--data", str(data), "--group", "7B", str(good),
        "--credential", str(teacher),
    )  # fmt: skip
    assert refused.returncode == 2
    assert "teacher may not set a policy" in refused.stderr
    assert "credential of an admin" in refused.stderr


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
