"""Tests of the hub's SQLite store on real database files."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub import audit as audit_chain
from hub import store as store_module
from hub.store import (
    ClassExists,
    ClassRecord,
    DeviceExists,
    StaffExists,
    Store,
    StoreCorrupt,
    StoreError,
    StoreTooNew,
    StoreUnavailable,
    TokenExists,
    TokenRefused,
    UnknownClass,
    UnknownDevice,
    UnknownStaff,
    UnknownToken,
)
from tests.support import scaled

NOW = 1_750_000_000
HOUR = 3600
SECRET = hashlib.sha256(b"the right secret").digest()
WRONG = hashlib.sha256(b"a wrong secret").digest()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "hub.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store.open(db_path) as opened:
        yield opened


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection, playing someone with direct access to the file."""
    return sqlite3.connect(path, isolation_level=None)


def enroll(store: Store, device_id: str, name: str = "Lab PC", group: str = "year7") -> None:
    store.add_device(device_id, b"key-" + device_id.encode(), name, group, NOW)


# -- opening, configuration, schema -----------------------------------------


def test_open_creates_private_wal_file_with_foreign_keys(store: Store, db_path: Path) -> None:
    db = store._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    # SQLite copies the database file's permissions to its write-ahead log.
    wal = db_path.with_name(db_path.name + "-wal")
    assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert store.schema_version() == len(store_module._STEPS)
    # WAL is a property of the file, not only of this connection.
    with raw(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_everything(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.set_setting("hub_name", "North School")
        store.add_token("t1", SECRET, "year7", NOW + HOUR, 3, "admin", NOW)
        enroll(store, "dev-a")
        store.add_staff("s1", "Ms Rivera", "teacher", ["year7"], NOW + HOUR, NOW)
        store.create_class("7B Maths", "year7", NOW)
        store.add_to_class("7B Maths", "dev-a")
        store.queue_command("dev-a", "c1", b"lock", NOW + HOUR)
        store.append_audit("Ms Rivera", "lock_screen", ["dev-a"], "ok", "", NOW)
    with Store.open(db_path) as store:
        assert store.schema_version() == len(store_module._STEPS)
        assert store.get_setting("hub_name") == "North School"
        assert [t.token_id for t in store.tokens()] == ["t1"]
        device = store.device("dev-a")
        assert device is not None and device.name == "Lab PC"
        assert [s.serial for s in store.staff()] == ["s1"]
        assert store.class_members("7B Maths") == ["dev-a"]
        assert store.audit()[0].action == "lock_screen"
        assert store.verify_audit() is None
        assert [q.payload for q in store.deliver_queued("dev-a", NOW)] == [b"lock"]


def test_memory_store_works_for_quick_tests() -> None:
    with Store.open(":memory:") as store:
        store.set_setting("k", "v")
        assert store.get_setting("k") == "v"


def test_context_manager_closes_and_close_is_idempotent(db_path: Path) -> None:
    with Store.open(db_path) as store:
        pass
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store._db.execute("SELECT 1")


def test_missing_folder_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="folder exists"):
        Store.open(tmp_path / "no-such-folder" / "hub.sqlite3")


def test_a_file_that_is_not_sqlite_is_reported_corrupt(db_path: Path) -> None:
    db_path.write_bytes(b"this is a spreadsheet, honest" * 100)
    with pytest.raises(StoreCorrupt, match="backup"):
        Store.open(db_path)


def test_someone_elses_sqlite_file_is_refused_untouched(db_path: Path) -> None:
    with raw(db_path) as other:
        other.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(StoreCorrupt, match="not a Homeroom database"):
        Store.open(db_path)
    with raw(db_path) as other:
        names = {r[0] for r in other.execute("SELECT name FROM sqlite_master")}
    assert names == {"photos"}


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    Store.open(db_path).close()
    with raw(db_path) as other:
        other.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreTooNew, match="Upgrade this hub"):
        Store.open(db_path)


def test_a_later_migration_step_runs_once_and_keeps_data(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(db_path) as store:
        store.set_setting("kept", "yes")

    def add_notes_table(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('from version 2')")

    monkeypatch.setattr(store_module, "_STEPS", [*store_module._STEPS, add_notes_table])
    with Store.open(db_path) as store:
        assert store.schema_version() == len(store_module._STEPS)
        assert store.get_setting("kept") == "yes"
    with Store.open(db_path) as store:  # a second open must not run the step again
        assert store._db.execute("SELECT count(*) FROM notes").fetchone()[0] == 1


def test_a_failing_migration_leaves_the_old_version(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open(db_path).close()

    def half_done(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE notes (body TEXT)")
        raise RuntimeError("step 2 crashed")

    monkeypatch.setattr(store_module, "_STEPS", [*store_module._STEPS, half_done])
    with pytest.raises(RuntimeError, match="step 2 crashed"):
        Store.open(db_path)
    monkeypatch.undo()
    with Store.open(db_path) as store:
        assert store.schema_version() == len(store_module._STEPS)
        assert (
            store._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'notes'").fetchone() is None
        )


# -- settings ---------------------------------------------------------------


def test_settings_set_get_and_replace(store: Store) -> None:
    assert store.get_setting("missing") is None
    store.set_setting("policy", "strict")
    store.set_setting("policy", "relaxed")
    store.set_setting("empty", "")
    assert store.get_setting("policy") == "relaxed"
    assert store.get_setting("empty") == ""


# -- enrollment tokens ------------------------------------------------------


def test_token_is_listed_without_its_secret(store: Store) -> None:
    store.add_token("t1", SECRET, "year7", NOW + HOUR, 2, "admin", NOW)
    [token] = store.tokens()
    assert (token.token_id, token.group, token.max_uses, token.uses) == ("t1", "year7", 2, 0)
    assert (token.expires_at, token.created_by, token.created_at) == (NOW + HOUR, "admin", NOW)
    assert not token.revoked and token.is_usable(NOW)
    assert not hasattr(token, "secret_hash")


def test_token_redeems_up_to_its_limit(store: Store) -> None:
    store.add_token("t1", SECRET, "year7", NOW + HOUR, 2, "admin", NOW)
    assert store.redeem_token("t1", SECRET, NOW) == "year7"
    assert store.redeem_token("t1", SECRET, NOW + 1) == "year7"
    with pytest.raises(TokenRefused) as refused:
        store.redeem_token("t1", SECRET, NOW + 2)
    assert refused.value.reason == "token_used_up"
    assert "ask an administrator" in str(refused.value)
    [token] = store.tokens()
    assert token.uses == 2 and not token.is_usable(NOW)


def test_wrong_secret_is_refused_and_uses_nothing(store: Store) -> None:
    store.add_token("t1", SECRET, "year7", NOW + HOUR, 1, "admin", NOW)
    for wrong in (WRONG, b"", SECRET[:-1], SECRET + b"\x00"):
        with pytest.raises(TokenRefused) as refused:
            store.redeem_token("t1", wrong, NOW)
        assert refused.value.reason == "bad_token_secret"
    assert store.tokens()[0].uses == 0
    assert store.redeem_token("t1", SECRET, NOW) == "year7"


def test_wrong_secret_learns_nothing_about_an_expired_or_used_token(store: Store) -> None:
    store.add_token("t1", SECRET, "year7", NOW + 10, 1, "admin", NOW)
    store.redeem_token("t1", SECRET, NOW)
    for now in (NOW + 1, NOW + 10):
        with pytest.raises(TokenRefused) as refused:
            store.redeem_token("t1", WRONG, now)
        assert refused.value.reason == "bad_token_secret"


def test_token_expires_at_its_expiry_second(store: Store) -> None:
    store.add_token("t1", SECRET, "year7", NOW + 10, 5, "admin", NOW)
    assert store.redeem_token("t1", SECRET, NOW + 9) == "year7"
    with pytest.raises(TokenRefused) as refused:
        store.redeem_token("t1", SECRET, NOW + 10)
    assert refused.value.reason == "token_expired"
    assert store.tokens()[0].uses == 1


def test_unknown_and_revoked_tokens_are_refused_alike(store: Store) -> None:
    store.add_token("t1", SECRET, "year7", NOW + HOUR, 5, "admin", NOW)
    store.revoke_token("t1")
    store.revoke_token("t1")  # twice is harmless
    for token_id in ("t1", "never-issued"):
        with pytest.raises(TokenRefused) as refused:
            store.redeem_token(token_id, SECRET, NOW)
        assert refused.value.reason == "unknown_token"
    assert store.tokens()[0].revoked
    with pytest.raises(UnknownToken):
        store.revoke_token("never-issued")


def test_token_ids_are_unique_and_arguments_checked(store: Store) -> None:
    store.add_token("t1", SECRET, "year7", NOW + HOUR, 1, "admin", NOW)
    with pytest.raises(TokenExists):
        store.add_token("t1", WRONG, "year8", NOW + HOUR, 1, "admin", NOW)
    with pytest.raises(ValueError):
        store.add_token("t2", SECRET, "year7", NOW + HOUR, 0, "admin", NOW)
    with pytest.raises(ValueError):
        store.add_token("t3", SECRET, "year7", NOW, 1, "admin", NOW)
    assert [t.token_id for t in store.tokens()] == ["t1"]


def test_token_refused_rejects_an_unknown_reason() -> None:
    with pytest.raises(ValueError):
        TokenRefused("nope")  # type: ignore[arg-type]


def test_concurrent_redemptions_from_two_connections_never_pass_the_limit(
    db_path: Path,
) -> None:
    limit, threads_per_store, attempts_per_thread = 5, 4, 5
    stores = [Store.open(db_path, busy_timeout=scaled(30)) for _ in range(2)]
    stores[0].add_token("t1", SECRET, "year7", NOW + HOUR, limit, "admin", NOW)
    start = threading.Barrier(len(stores) * threads_per_store)
    outcomes: list[str] = []
    outcomes_lock = threading.Lock()

    def redeem_many(store: Store) -> None:
        start.wait(timeout=scaled(10))
        for _ in range(attempts_per_thread):
            try:
                result = store.redeem_token("t1", SECRET, NOW)
            except TokenRefused as refused:
                result = refused.reason
            with outcomes_lock:
                outcomes.append(result)

    workers = [
        threading.Thread(target=redeem_many, args=(store,))
        for store in stores
        for _ in range(threads_per_store)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=scaled(60))
        assert not worker.is_alive()
    try:
        assert len(outcomes) == len(workers) * attempts_per_thread
        assert outcomes.count("year7") == limit
        assert set(outcomes) == {"year7", "token_used_up"}
        assert stores[1].tokens()[0].uses == limit
    finally:
        for store in stores:
            store.close()


# -- devices ----------------------------------------------------------------


def test_add_device_returns_and_stores_the_record(store: Store) -> None:
    added = store.add_device("dev-a", b"\x01" * 32, "Lab PC", "year7", NOW)
    assert added == store.device("dev-a")
    assert (added.device_id, added.public_key, added.name, added.group) == (
        "dev-a",
        b"\x01" * 32,
        "Lab PC",
        "year7",
    )
    assert (added.enrolled_at, added.last_seen, added.removed_at) == (NOW, NOW, None)
    assert (added.user, added.hostname, added.inventory_json) == (None, None, None)
    with pytest.raises(AttributeError):
        added.name = "renamed"  # type: ignore[misc]
    assert store.device("nobody") is None


def test_device_id_or_key_cannot_be_enrolled_twice(store: Store) -> None:
    store.add_device("dev-a", b"key-a", "A", "year7", NOW)
    with pytest.raises(DeviceExists, match="already enrolled"):
        store.add_device("dev-a", b"other-key", "B", "year7", NOW)
    with pytest.raises(DeviceExists):
        store.add_device("dev-b", b"key-a", "B", "year7", NOW)


def test_removed_device_id_can_never_come_back(store: Store, db_path: Path) -> None:
    enroll(store, "dev-a")
    store.create_class("7B", "year7", NOW)
    store.add_to_class("7B", "dev-a")
    store.remove_device("dev-a", NOW + 5)
    store.close()
    with Store.open(db_path) as reopened:
        with pytest.raises(DeviceExists, match="was removed"):
            reopened.add_device("dev-a", b"key-dev-a", "Lab PC", "year7", NOW + 10)
        assert reopened.device("dev-a") is None
        assert reopened.class_members("7B") == []


def test_removed_device_ids_names_the_removed_only(store: Store) -> None:
    enroll(store, "dev-a", "A")
    enroll(store, "dev-b", "B")
    assert store.removed_device_ids() == frozenset()
    store.remove_device("dev-a", NOW + 5)
    assert store.removed_device_ids() == {"dev-a"}


def test_remove_device_keeps_a_tombstone_and_drops_its_links(store: Store) -> None:
    enroll(store, "dev-a", "A")
    enroll(store, "dev-b", "B")
    store.create_class("7B", "year7", NOW)
    store.add_to_class("7B", "dev-a")
    store.add_to_class("7B", "dev-b")
    store.queue_command("dev-a", "c1", b"lock", NOW + HOUR)
    store.remove_device("dev-a", NOW + 5)
    store.remove_device("dev-a", NOW + 99)  # twice is harmless and keeps the first time
    assert store.device("dev-a") is None
    assert [d.device_id for d in store.devices()] == ["dev-b"]
    tombstones = [d for d in store.devices(include_removed=True) if d.removed_at is not None]
    assert [(d.device_id, d.removed_at) for d in tombstones] == [("dev-a", NOW + 5)]
    assert store.class_members("7B") == ["dev-b"]
    assert store._db.execute("SELECT count(*) FROM queued_commands").fetchone()[0] == 0
    with pytest.raises(UnknownDevice):
        store.remove_device("never-enrolled", NOW)


def test_device_names_are_made_unique_among_active_devices(store: Store) -> None:
    names = [store.add_device(f"d{i}", bytes([i]), "Lab PC", "g", NOW).name for i in range(4)]
    assert names == ["Lab PC", "Lab PC (2)", "Lab PC (3)", "Lab PC (4)"]
    store.remove_device("d1", NOW)  # frees "Lab PC (2)"
    assert store.add_device("d9", b"\x09", "Lab PC", "g", NOW).name == "Lab PC (2)"
    store.remove_device("d0", NOW)
    assert store.add_device("d10", b"\x0a", "Lab PC", "g", NOW).name == "Lab PC"
    with pytest.raises(ValueError):
        store.add_device("d11", b"\x0b", "", "g", NOW)


def test_devices_lists_by_group_and_name(store: Store) -> None:
    enroll(store, "d1", "Zoe's laptop", "year7")
    enroll(store, "d2", "Adam's laptop", "year7")
    enroll(store, "d3", "Cart 1", "year8")
    assert [d.name for d in store.devices()] == ["Adam's laptop", "Cart 1", "Zoe's laptop"]
    assert [d.device_id for d in store.devices("year7")] == ["d2", "d1"]
    assert store.devices("year9") == []


def test_mark_seen_updates_given_fields_only_and_never_goes_back(store: Store) -> None:
    enroll(store, "dev-a")
    store.mark_seen("dev-a", NOW + 60, hostname="lab-01", user="zoe", inventory_json='{"os":1}')
    store.mark_seen("dev-a", NOW + 120, user="adam")
    store.mark_seen("dev-a", NOW + 30)  # a late report must not move last_seen back
    device = store.device("dev-a")
    assert device is not None
    assert (device.last_seen, device.hostname, device.user) == (NOW + 120, "lab-01", "adam")
    assert device.inventory_json == '{"os":1}'
    store.remove_device("dev-a", NOW + 200)
    for device_id in ("dev-a", "nobody"):
        with pytest.raises(UnknownDevice):
            store.mark_seen(device_id, NOW + 300)


# -- staff ------------------------------------------------------------------


def test_staff_are_listed_and_revoked(store: Store) -> None:
    store.add_staff("s1", "Ms Rivera", "teacher", ["year7", "year8"], NOW + HOUR, NOW)
    store.add_staff("s2", "Mr Okafor", "it", [], NOW + HOUR, NOW + 1)
    with pytest.raises(StaffExists):
        store.add_staff("s1", "Someone Else", "admin", [], NOW + HOUR, NOW)
    assert store.revoked_serials() == frozenset()
    store.revoke_staff("s1", NOW + 10)
    store.revoke_staff("s1", NOW + 20)  # twice keeps the first time
    first, second = store.staff()
    assert (first.serial, first.name, first.role) == ("s1", "Ms Rivera", "teacher")
    assert first.groups == ("year7", "year8")
    assert (first.expires_at, first.issued_at, first.revoked_at) == (NOW + HOUR, NOW, NOW + 10)
    assert (second.serial, second.groups, second.revoked_at) == ("s2", (), None)
    assert store.revoked_serials() == frozenset({"s1"})
    store.revoke_staff("minted", NOW)  # never recorded: revoked all the same
    assert store.revoked_serials() == frozenset({"s1", "minted"})
    assert store.staff_member("minted") is not None
    assert store.staff_member("s2") == second
    assert store.staff_member("nobody") is None


# -- classes ----------------------------------------------------------------


def test_class_rosters(store: Store) -> None:
    for device_id in ("d3", "d1", "d2"):
        enroll(store, device_id, device_id)
    store.create_class("7B Maths", "year7", NOW)
    store.create_class("7A Art", "year7", NOW + 1)
    with pytest.raises(ClassExists):
        store.create_class("7B Maths", "year8", NOW)
    for device_id in ("d3", "d1", "d3"):  # adding twice is harmless
        store.add_to_class("7B Maths", device_id)
    assert store.class_members("7B Maths") == ["d3", "d1"]
    store.remove_from_class("7B Maths", "d3")
    store.remove_from_class("7B Maths", "d2")  # not a member: ignored
    assert store.classes() == [
        ClassRecord("7A Art", "year7", NOW + 1, ()),
        ClassRecord("7B Maths", "year7", NOW, ("d1",)),
    ]
    store.delete_class("7A Art")
    assert [c.name for c in store.classes()] == ["7B Maths"]
    assert store.device("d1") is not None


def test_class_errors_name_what_is_unknown(store: Store) -> None:
    enroll(store, "d1")
    store.create_class("7B", "year7", NOW)
    with pytest.raises(UnknownClass):
        store.add_to_class("9Z", "d1")
    with pytest.raises(UnknownDevice):
        store.add_to_class("7B", "nobody")
    store.remove_device("d1", NOW)
    with pytest.raises(UnknownDevice):
        store.add_to_class("7B", "d1")
    for call in (
        lambda: store.remove_from_class("9Z", "d1"),
        lambda: store.class_members("9Z"),
        lambda: store.delete_class("9Z"),
    ):
        with pytest.raises(UnknownClass, match="list classes"):
            call()


# -- queued commands --------------------------------------------------------


def test_queued_commands_leave_once_in_order_without_expired_ones(store: Store) -> None:
    enroll(store, "dev-a", "A")
    enroll(store, "dev-b", "B")
    assert store.queue_command("dev-a", "c1", b"first", NOW + 100, sender="s1")
    assert store.queue_command("dev-a", "c2", b"stale", NOW + 10)
    assert store.queue_command("dev-a", "c3", b"third", NOW + 100)
    assert store.queue_command("dev-b", "c1", b"other device", NOW + 100)
    assert not store.queue_command("dev-a", "c1", b"retried", NOW + 100)
    assert [q.payload for q in store.deliver_queued("dev-a", NOW + 10)] == [b"first", b"third"]
    assert store.deliver_queued("dev-a", NOW + 10) == []  # at most once
    assert [q.payload for q in store.deliver_queued("dev-b", NOW)] == [b"other device"]
    assert store.deliver_queued("nobody", NOW) == []
    with pytest.raises(UnknownDevice):
        store.queue_command("nobody", "c1", b"x", NOW + 100)


def test_a_delivered_command_stays_until_its_result(store: Store) -> None:
    enroll(store, "dev-a", "A")
    store.queue_command("dev-a", "c1", b"lock", NOW + 100, sender="s1")
    store.deliver_queued("dev-a", NOW)
    [kept] = store.queued("dev-a")
    assert kept.delivered_at == NOW and kept.sender == "s1"
    settled = store.settle_queued("dev-a", "c1")
    assert settled is not None and settled.sender == "s1"
    assert store.queued() == [] and store.settle_queued("dev-a", "c1") is None


def test_expired_commands_are_found_with_time_for_late_results(store: Store) -> None:
    enroll(store, "dev-a", "A")
    store.queue_command("dev-a", "sent", b"x", NOW + 10)
    store.deliver_queued("dev-a", NOW)
    store.queue_command("dev-a", "never-sent", b"y", NOW + 10)
    assert [q.command_id for q in store.expired_queued(NOW + 9, late_results=30)] == []
    assert [q.command_id for q in store.expired_queued(NOW + 10, late_results=30)] == ["never-sent"]
    assert [q.command_id for q in store.expired_queued(NOW + 40, late_results=30)] == [
        "sent",
        "never-sent",
    ]


def test_replay_nonces_survive_reopening(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.remember_nonce(b"n1", NOW + 10, "s1")
        store.remember_nonce(b"n2", NOW + 100, "s1")
        store.remember_nonce(b"n2", NOW + 100, "s1")  # twice is harmless
    with Store.open(db_path) as store:
        assert store.live_nonces(NOW + 10) == [(b"n2", NOW + 100, "s1")]
        store.forget_nonces(NOW + 10)
        assert store.live_nonces(0) == [(b"n2", NOW + 100, "s1")]


def test_purge_expired_drops_only_expired_commands(store: Store) -> None:
    enroll(store, "dev-a")
    store.queue_command("dev-a", "c1", b"old", NOW + 10)
    store.queue_command("dev-a", "c2", b"older", NOW + 5)
    store.queue_command("dev-a", "c3", b"fresh", NOW + 11)
    assert store.purge_expired(NOW + 10) == 2
    assert store.purge_expired(NOW + 10) == 0
    assert [q.payload for q in store.deliver_queued("dev-a", NOW)] == [b"fresh"]


# -- audit log --------------------------------------------------------------


def fill_audit(store: Store, count: int) -> None:
    for i in range(count):
        actor = "Ms Rivera" if i % 2 == 0 else "Mr Okafor"
        store.append_audit(actor, "lock_screen", [f"dev-{i}", "dev-x"], "ok", f"step {i}", NOW + i)


def test_audit_records_chain_and_list_newest_first(store: Store) -> None:
    first = store.append_audit("Ms Rivera", "watch", ["dev-a"], "ok", "", NOW)
    second = store.append_audit("Mr Okafor", "lock_screen", [], "refused", "outside hours", NOW)
    assert (first.seq, first.prev_hash) == (1, audit_chain.GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert (
        second.hash
        == hashlib.sha256(
            first.hash
            + audit_chain.canonical_audit_bytes(
                2, NOW, "Mr Okafor", "lock_screen", [], "refused", "outside hours"
            )
        ).digest()
    )
    assert store.audit() == [second, first]
    assert store.audit_head() == (2, second.hash)


def test_audit_filters_and_pages(store: Store) -> None:
    assert store.audit() == [] and store.audit_head() is None and store.verify_audit() is None
    fill_audit(store, 10)
    assert [r.seq for r in store.audit(limit=3)] == [10, 9, 8]
    assert [r.seq for r in store.audit(limit=2, actor="Mr Okafor")] == [10, 8]
    assert [r.seq for r in store.audit(limit=3, before_seq=8)] == [7, 6, 5]
    assert store.audit(limit=0) == []
    assert store.audit()[0].targets == ("dev-9", "dev-x")
    with pytest.raises(ValueError):
        store.audit(limit=-1)


def test_audit_rows_cannot_be_changed_through_sql_by_mistake(store: Store, db_path: Path) -> None:
    fill_audit(store, 2)
    with raw(db_path) as other:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            other.execute("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            other.execute("DELETE FROM audit_log WHERE seq = 1")
    assert store.verify_audit() is None


def tamper(path: Path, *statements: str) -> None:
    """Someone with the file in hand: drop the guard triggers, then rewrite history."""
    with raw(path) as other:
        other.execute("DROP TRIGGER audit_log_no_update")
        other.execute("DROP TRIGGER audit_log_no_delete")
        for statement in statements:
            other.execute(statement)


@pytest.mark.parametrize(
    ("statement", "first_bad"),
    [
        ("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 3", 3),
        ("UPDATE audit_log SET actor = 'Mr Okafor' WHERE seq = 1", 1),
        ("UPDATE audit_log SET at = at + 1 WHERE seq = 4", 4),
        ("UPDATE audit_log SET targets_json = '[\"dev-3\"]' WHERE seq = 4", 4),
        ("UPDATE audit_log SET targets_json = 'not json' WHERE seq = 2", 2),
        ("UPDATE audit_log SET result = 'refused' WHERE seq = 5", 5),
        ("UPDATE audit_log SET hash = zeroblob(32) WHERE seq = 5", 5),
        ("DELETE FROM audit_log WHERE seq = 3", 4),
        ("DELETE FROM audit_log WHERE seq = 1", 2),
        ("UPDATE audit_log SET seq = seq + 10 WHERE seq = 5", 15),
    ],
)
def test_verify_audit_finds_the_first_tampered_row(
    store: Store, db_path: Path, statement: str, first_bad: int
) -> None:
    fill_audit(store, 5)
    assert store.verify_audit() is None
    tamper(db_path, statement)
    assert store.verify_audit() == first_bad


def test_rehashing_a_forged_row_still_breaks_the_next_link(store: Store, db_path: Path) -> None:
    fill_audit(store, 4)
    [row2] = [r for r in store.audit() if r.seq == 2]
    forged = audit_chain.chain_hash(
        row2.prev_hash, 2, row2.at, row2.actor, row2.action, row2.targets, "ok", "nothing"
    )
    with raw(db_path) as other:
        other.execute("DROP TRIGGER audit_log_no_update")
        other.execute("UPDATE audit_log SET detail = 'nothing', hash = ? WHERE seq = 2", (forged,))
    assert store.verify_audit() == 3


def test_audit_keeps_unicode_and_tricky_text(store: Store) -> None:
    record = store.append_audit(
        'Zoë "the admin"', "message", ["a,b", "", '"]'], "ok", "ünïcødé \n\x00 🚀", NOW
    )
    assert store.audit() == [record]
    assert store.verify_audit() is None


fields = st.tuples(
    st.integers(min_value=1, max_value=2**62),
    st.integers(min_value=0, max_value=2**40),
    st.text(),
    st.text(),
    st.lists(st.text(), max_size=4),
    st.text(),
    st.text(),
)


@given(fields, fields)
def test_canonical_encoding_never_confuses_field_boundaries(
    a: tuple[int, int, str, str, list[str], str, str],
    b: tuple[int, int, str, str, list[str], str, str],
) -> None:
    # Injective: equal bytes only for equal fields ("ab"+"c" never encodes like "a"+"bc").
    same_bytes = audit_chain.canonical_audit_bytes(*a) == audit_chain.canonical_audit_bytes(*b)
    assert same_bytes == (a == b)
    decoded = json.loads(audit_chain.canonical_audit_bytes(*a))
    assert decoded["targets"] == a[4] and decoded["detail"] == a[6]


# -- failures of the disk ---------------------------------------------------


def current_pages(store: Store) -> int:
    return int(store._db.execute("PRAGMA page_count").fetchone()[0])


def test_disk_full_is_store_unavailable_and_saves_nothing_half(store: Store) -> None:
    enroll(store, "dev-a")
    store.set_setting("kept", "before")
    fill_audit(store, 3)
    head = store.audit_head()
    # Simulate a full disk: this connection may not grow the file by one more page.
    store._db.execute(f"PRAGMA max_page_count = {current_pages(store)}")
    big = "x" * 200_000
    attempts: list[Callable[[], object]] = [
        lambda: store.append_audit("Ms Rivera", "screenshot", ["dev-a"], "ok", big, NOW + 9),
        lambda: store.set_setting("kept", big),
        lambda: store.add_device("dev-b", b"k" * 200_000, "B", "year7", NOW),
        lambda: store.queue_command("dev-a", "c1", big.encode(), NOW + HOUR),
    ]
    for attempt in attempts:
        with pytest.raises(StoreUnavailable, match="Free disk space") as failure:
            attempt()
        assert isinstance(failure.value, StoreError)
        assert not store._db.in_transaction
    assert store.get_setting("kept") == "before"
    assert store.audit_head() == head and store.verify_audit() is None
    assert [d.device_id for d in store.devices()] == ["dev-a"]
    assert store.deliver_queued("dev-a", NOW) == []
    # Once space is freed the same connection carries on and the chain continues.
    store._db.execute("PRAGMA max_page_count = 1073741823")
    record = store.append_audit("Ms Rivera", "screenshot", ["dev-a"], "ok", big, NOW + 9)
    assert record.seq == 4 and store.verify_audit() is None


def test_unwritable_database_during_redemption_uses_nothing(store: Store) -> None:
    store.add_token("t1", SECRET, "year7", NOW + HOUR, 1, "admin", NOW)
    # Counting a use rewrites a page in place, so a page limit cannot make it fail;
    # a read-only database can, and must neither admit the device nor count the use.
    store._db.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreUnavailable, match="writable"):
        store.redeem_token("t1", SECRET, NOW)
    store._db.execute("PRAGMA query_only = OFF")
    assert store.tokens()[0].uses == 0
    assert store.redeem_token("t1", SECRET, NOW) == "year7"


def test_read_only_database_is_store_unavailable(store: Store) -> None:
    store.set_setting("kept", "before")
    store._db.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreUnavailable, match=r"writable.*free disk space"):
        store.set_setting("kept", "after")
    assert store.get_setting("kept") == "before"  # reading still works


def test_a_database_locked_by_another_program_is_store_unavailable(db_path: Path) -> None:
    with Store.open(db_path, busy_timeout=0.05) as store, raw(db_path) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="only one hub"):
            store.set_setting("k", "v")
        other.execute("ROLLBACK")
        store.set_setting("k", "v")
        assert store.get_setting("k") == "v"


def test_every_error_is_a_store_error_with_a_sentence() -> None:
    errors = [
        StoreUnavailable("x."),
        TokenRefused("token_expired"),
        TokenExists("x."),
        UnknownToken("x."),
        DeviceExists("x."),
        UnknownDevice("x."),
        StaffExists("x."),
        UnknownStaff("x."),
        ClassExists("x."),
        UnknownClass("x."),
        StoreCorrupt("x."),
        StoreTooNew("x."),
    ]
    for error in errors:
        assert isinstance(error, StoreError)
        assert str(error).endswith(".")


def test_store_file_is_not_readable_by_other_users_even_if_umask_allows(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Store.open(tmp_path / "loose.sqlite3").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "loose.sqlite3").stat().st_mode) == 0o600
