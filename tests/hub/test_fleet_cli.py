"""`homeroom-hub devices set` and `devices import`, run as commands on a real data folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hub.keyring import Keyring
from hub.lifecycle import LifeCycle
from hub.store import Store
from protocol.fleet import LifeState

from .test_cli import hub, set_up


def _folder_with_devices(tmp_path: Path, *names: str) -> tuple[Path, dict[str, str]]:
    data = set_up(tmp_path)
    ids = {}
    with Store.open(Keyring.load(data).store_path) as store:
        for number, name in enumerate(names):
            key = bytes([number + 1]) * 32
            device_id = hashlib.sha256(key).hexdigest()
            store.add_device(device_id, key, name, "7B", 1_700_000_000)
            ids[name] = device_id
    return data, ids


def _life(data: Path) -> LifeCycle:
    return LifeCycle(Store.open(Keyring.load(data).store_path))


def test_devices_set_records_state_tag_and_student_and_audits_it(tmp_path: Path) -> None:
    data, ids = _folder_with_devices(tmp_path, "Ada's laptop", "Spare 1")
    done = hub(
        "devices", "set", "--data", str(data), "Ada's laptop",
        "--state", "in_repair", "--asset-tag", "HR-0001", "--student", "Ada Lovelace",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "state: 'in_service' -> 'in_repair'" in done.stdout
    loan = hub(
        "devices", "set", "Spare 1", "--data", str(data),
        "--state", "on_loan", "--loan-for", "Ada's laptop",
    )  # fmt: skip
    assert loan.returncode == 0, loan.stderr
    life = _life(data)
    ada = life.record(ids["Ada's laptop"])
    assert (ada.state, ada.asset_tag, ada.student) == (
        LifeState.IN_REPAIR,
        "HR-0001",
        "Ada Lovelace",
    )
    assert life.record(ids["Spare 1"]).loan_for == ids["Ada's laptop"]
    assert "device_record" in hub("audit", "--data", str(data)).stdout
    clash = hub("devices", "set", "Spare 1", "--data", str(data), "--asset-tag", "HR-0001")
    assert clash.returncode == 2 and "already on Ada's laptop" in clash.stderr
    loose = hub("devices", "set", "Spare 1", "--data", str(data), "--state", "on_loan")
    assert loose.returncode == 2 and "--loan-for" in loose.stderr


def test_devices_import_names_each_bad_line_and_imports_nothing(tmp_path: Path) -> None:
    data, ids = _folder_with_devices(tmp_path, "Ada's laptop", "Bilal's laptop")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "name,asset_tag,student\n"
        "Ada's laptop,HR-1,Ada\n"
        "Chloé's laptop,HR-2,Chloé\n"
        "Bilal's laptop,not a tag!,Bilal\n"
    )
    refused = hub("devices", "import", "--data", str(data), str(bad))
    assert refused.returncode == 1
    lines = refused.stdout.splitlines()
    assert lines[0].endswith('line 3: no enrolled device "Chloé\'s laptop"; check the name')
    assert "line 4: asset tag 'not a tag!'" in lines[1]
    assert lines[2].startswith("Nothing imported: fix the 2 line(s)")
    assert _life(data).records() == {}
    good = tmp_path / "good.csv"
    good.write_text("name,asset_tag,student\nAda's laptop,HR-1,Ada\nBilal's laptop,HR-2,Bilal\n")
    imported = hub("devices", "import", str(good), "--data", str(data))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("Imported 2 line(s): 4 change(s) on 2 device(s).")
    records = _life(data).records()
    assert records[ids["Bilal's laptop"]].asset_tag == "HR-2"
