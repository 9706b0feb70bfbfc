"""`homeroom-hub devices set` and `devices import`: IT's life-cycle records from the shell."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from protocol.fleet import LifeState
from protocol.limits import fit

from .admin import LOCAL_ADMIN
from .lifecycle import (
    ImportRefused,
    LifeCycle,
    RecordChange,
    checked_student,
    checked_tag,
    parse_import,
)
from .store import Store

_STATES = [state.value for state in LifeState]


def add_commands(
    devices: argparse.ArgumentParser,
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """`devices set` and `devices import` under `devices` (plain `devices` still lists)."""
    actions = devices.add_subparsers(dest="action", required=False)
    change = command(actions, "set", "set a device's asset tag, student or state")
    change.add_argument("device", metavar="NAME", help="the device's name (or id)")
    change.add_argument("--asset-tag", help="the tag on its label ('' clears it)")
    change.add_argument("--student", help="who it is assigned to ('' clears it)")
    change.add_argument("--state", choices=_STATES, help="where it is in its life")
    change.add_argument(
        "--loan-for", metavar="DEVICE", help="with --state on_loan: the device it replaces"
    )
    load = command(actions, "import", "set asset tags and students from a CSV file, all or none")
    load.add_argument("file", type=Path, metavar="FILE.csv")


def run(args: argparse.Namespace, store: Store, now: int) -> int | None:
    """Run `devices set` or `devices import`; None when it is another devices command."""
    action = getattr(args, "action", None)
    if action not in ("set", "import"):
        return None
    life = LifeCycle(store)
    by_name = {d.name: d.device_id for d in store.devices()}
    if action == "set":
        return _set(args, store, life, by_name, now)
    try:
        text = args.file.read_text(encoding="utf-8-sig")  # Excel writes a byte-order mark
    except OSError as error:
        raise ValueError(f"cannot read {args.file}: {error.strerror}") from None
    try:
        changes = parse_import(text, by_name)
    except ImportRefused as refused:
        for line in refused.errors:
            print(f"{args.file}: {_printable(line)}")
        print(f"Nothing imported: fix the {len(refused.errors)} line(s) above and run it again.")
        return 1
    done = life.change_many(changes, actor=LOCAL_ADMIN, now=now)
    devices = sorted({c.device_id for c in done})
    store.append_audit(
        LOCAL_ADMIN, "device_import", devices, "ok", f"{len(done)} changes from {args.file}", now
    )
    print(f"Imported {len(changes)} line(s): {len(done)} change(s) on {len(devices)} device(s).")
    return 0


def _set(
    args: argparse.Namespace, store: Store, life: LifeCycle, by_name: dict[str, str], now: int
) -> int:
    device_id = by_name.get(args.device, args.device)
    loan_for = by_name.get(args.loan_for, args.loan_for) if args.loan_for else None
    if loan_for is not None and args.state != LifeState.ON_LOAN.value:
        raise ValueError("--loan-for goes with --state on_loan")
    if args.state == LifeState.ON_LOAN.value and loan_for is None:
        raise ValueError("--state on_loan needs --loan-for DEVICE: the device it replaces")
    change = RecordChange(
        device_id,
        asset_tag=None if args.asset_tag is None else checked_tag(args.asset_tag),
        student=None if args.student is None else checked_student(args.student),
        state=LifeState(args.state) if args.state else None,
        loan_for=loan_for,
    )
    done = life.change(change, actor=LOCAL_ADMIN, now=now)
    described = "; ".join(f"{c.field}: {c.old!r} -> {c.new!r}" for c in done) or "no change"
    store.append_audit(LOCAL_ADMIN, "device_record", [device_id], "ok", described, now)
    print(f"{_printable(args.device)}: {_printable(described)}")
    return 0


def _printable(text: str) -> str:
    return fit(text, max(len(text), 1), printable=True)
