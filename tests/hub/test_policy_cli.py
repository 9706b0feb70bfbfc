"""`homeroom-hub policy set` and `policy show` as an admin runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hub.store import Store
from protocol.credentials import StaffCredential
from protocol.keys import PrivateKey

from ..policy_kit import EXAMPLE
from ..support import scaled


def hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )


def test_an_admin_sets_and_shows_a_groups_policy(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    assert hub("init", "--data", str(data)).returncode == 0
    policy = tmp_path / "7B.toml"
    policy.write_text(EXAMPLE)
    shown = hub("policy", "show", "--data", str(data), "--group", "7B")
    assert "'7B' has no policy" in shown.stdout
    for sequence in (1, 2):
        made = hub("policy", "set", "--data", str(data), "--group", "7B", str(policy))
        assert made.returncode == 0, made.stderr
        assert f"Policy {sequence} for '7B' signed by 'Administrator'" in made.stdout
    shown = hub("policy", "show", "--data", str(data), "--group", "7B")
    assert "Policy 2 for '7B', signed by 'Administrator'" in shown.stdout
    assert "window 'night': 21:00-06:30 every day; capture never; locks the device" in shown.stdout
    assert "guardian  pause" in shown.stdout
    audit = hub("audit", "--data", str(data)).stdout
    assert "policy_set" in audit and "7B policy 2: windows school, home, night" in audit


def test_a_mistake_or_a_teachers_key_is_refused_with_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    assert hub("init", "--data", str(data)).returncode == 0
    wrong = tmp_path / "7B.toml"
    wrong.write_text(EXAMPLE.replace('start = "21:00"', 'start = "9pm"'))
    refused = hub("policy", "set", "--data", str(data), "--group", "7B", str(wrong))
    line = next(n for n, text in enumerate(wrong.read_text().splitlines(), 1) if "9pm" in text)
    assert refused.returncode == 2
    assert f"7B.toml, line {line}: '9pm' is not a time of day" in refused.stderr
    good = tmp_path / "good.toml"
    good.write_text(EXAMPLE)
    made = hub(
        "staff", "add", "Ms Smith", "--role", "teacher", "--group", "7B", "--data", str(data)
    )
    assert made.returncode == 0
    teacher = data / "staff" / "Ms-Smith.credential"
    refused = hub(
        "policy", "set", "--data", str(data), "--group", "7B", str(good),
        "--credential", str(teacher),
    )  # fmt: skip
    assert refused.returncode == 2
    assert "teacher may not set a policy" in refused.stderr
    assert "credential of an admin" in refused.stderr


def test_a_guardians_credential_names_their_childs_device(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    assert hub("init", "--data", str(data)).returncode == 0
    key = PrivateKey.generate().public
    with Store.open(data / "hub.sqlite3") as store:
        store.add_device(key.fingerprint, key.raw, "Ada's laptop", "7B", 1_800_000_000)
    refused = hub("staff", "add", "Ada's mum", "--role", "guardian", "--data", str(data))
    assert refused.returncode == 2 and "needs at least one --device" in refused.stderr
    made = hub(
        "staff", "add", "Ada's mum", "--role", "guardian", "--device", "Ada's laptop",
        "--data", str(data),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "(guardian, groups 7B)" in made.stdout
    credential = StaffCredential.decode((data / "staff" / "Ada-s-mum.credential").read_bytes())
    assert credential.certificate.body.devices == (key.fingerprint,)
