"""`homeroom-org` and `homeroom-console keys`: the organisation's folder, requests, and the
refusals that keep each key where it was made."""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec
import pytest

from console import keys
from console.organisation.folder import Organisation
from console.organisation.sealed import WrongPassphrase
from hub.admin import add_staff
from hub.keyring import Keyring, init_hub, install_certificate, rotate
from hub.store import Store
from protocol.certificates import Role
from protocol.errors import ErrorCode, PeerError
from protocol.keys import PrivateKey
from protocol.requests import CertificateRequest, Requester, make_request

NAMES = ["127.0.0.1"]


def hub_request(folder: Path) -> CertificateRequest:
    init_hub(folder, hub_url="wss://127.0.0.1:1", names=NAMES)
    return CertificateRequest.decode((folder / "hub.request").read_bytes())


def test_the_key_is_sealed_under_its_passphrase(tmp_path: Path) -> None:
    made = Organisation.create(tmp_path / "org", "correct horse")
    assert os.stat(tmp_path / "org" / "org.key").st_mode & 0o077 == 0
    assert made.key.to_bytes() not in (tmp_path / "org" / "org.key").read_bytes()
    assert Organisation.open(tmp_path / "org", "correct horse").public == made.public
    with pytest.raises(WrongPassphrase):
        Organisation.open(tmp_path / "org", "wrong horse")
    with pytest.raises(WrongPassphrase):
        Organisation.open(tmp_path / "org", None)
    with pytest.raises(FileExistsError):
        Organisation.create(tmp_path / "org", "again")
    with pytest.raises(ValueError, match="empty passphrase"):
        Organisation.create(tmp_path / "other", "")


def test_hub_and_organisation_keep_to_their_own_folders(tmp_path: Path) -> None:
    request = hub_request(tmp_path / "hub")
    with pytest.raises(FileExistsError, match="hub's data folder"):
        Organisation.create(tmp_path / "hub", None)
    Organisation.create(tmp_path / "org", None)
    with pytest.raises(FileExistsError, match="organisation key"):
        init_hub(tmp_path / "org", hub_url="wss://127.0.0.1:1", names=NAMES)
    # An older hub that kept the organisation key in its folder is told to move it off.
    org = Organisation.open(tmp_path / "org", None)
    install_certificate(tmp_path / "hub", org.certify_hub(request))
    (tmp_path / "hub" / "org.key").write_bytes(org.key.to_bytes())
    with pytest.raises(FileExistsError, match="must not stay on the hub"):
        Keyring.load(tmp_path / "hub")


def test_a_request_proves_its_key_and_says_what_it_is_for(tmp_path: Path) -> None:
    org = Organisation.create(tmp_path / "org", None)
    staff = make_request(PrivateKey.generate(), Requester.STAFF, "Ms Smith")
    with pytest.raises(ValueError, match="certify-staff"):
        org.certify_hub(staff)
    with pytest.raises(ValueError, match="certify-hub"):
        org.certify_staff(hub_request(tmp_path / "hub"), role=Role.ADMIN, groups=("*",))
    with pytest.raises(ValueError, match="not a staff role"):
        org.certify_staff(staff, role=Role.HUB, groups=("*",))
    # A request whose name was changed on the way no longer carries its key's signature.
    renamed = msgspec.structs.replace(
        staff, body=msgspec.structs.replace(staff.body, name="Head of IT")
    )
    with pytest.raises(PeerError) as refused:
        CertificateRequest.decode(renamed.encode())
    assert refused.value.code is ErrorCode.BAD_SIGNATURE


def test_the_hub_installs_only_its_own_certificate_from_its_own_organisation(
    tmp_path: Path,
) -> None:
    org, rival = (
        Organisation.create(tmp_path / "org", None),
        Organisation.create(tmp_path / "x", None),
    )
    request = hub_request(tmp_path / "hub")
    with pytest.raises(ValueError, match="another hub's key"):
        install_certificate(tmp_path / "hub", org.certify_hub(hub_request(tmp_path / "other")))
    keyring = install_certificate(tmp_path / "hub", org.certify_hub(request))
    assert keyring.org_public == org.public
    with pytest.raises(ValueError, match="another organisation"):
        install_certificate(tmp_path / "hub", rival.certify_hub(request))
    # A staff certificate from another organisation is refused when it is recorded.
    with Store.open(keyring.store_path) as store:
        foreign = rival.certify_staff(
            make_request(PrivateKey.generate(), Requester.STAFF, "Mr Mallory"),
            role=Role.ADMIN,
            groups=("*",),
        )
        with pytest.raises(PeerError) as refused:
            add_staff(keyring, store, foreign)
        assert refused.value.code is ErrorCode.UNTRUSTED_ISSUER
        assert store.staff() == []


def test_the_hubs_key_rotates_and_the_old_one_serves_until_the_new_is_certified(
    tmp_path: Path,
) -> None:
    org = Organisation.create(tmp_path / "org", None)
    first = install_certificate(tmp_path / "hub", org.certify_hub(hub_request(tmp_path / "hub")))
    request = CertificateRequest.decode(rotate(tmp_path / "hub").read_bytes())
    assert Keyring.load(tmp_path / "hub").hub_key.public == first.hub_key.public
    second = install_certificate(tmp_path / "hub", org.certify_hub(request))
    assert second.hub_key.public == request.subject != first.hub_key.public
    assert not (tmp_path / "hub" / "hub.next.key").exists()


def test_revocation_lists_number_on_and_keep_every_serial(tmp_path: Path) -> None:
    org = Organisation.create(tmp_path / "org", None)
    one = org.revoke(["a" * 32], now=int(time.time()))
    two = org.revoke(["b" * 32])
    renewed = org.revoke([])  # nothing new: the same serials, signed again before expiry
    assert [one.body.sequence, two.body.sequence, renewed.body.sequence] == [1, 2, 3]
    assert renewed.body.serials == ("a" * 32, "b" * 32)


def test_a_staff_key_is_made_once_and_installed_only_with_its_own_card(tmp_path: Path) -> None:
    org = Organisation.create(tmp_path / "org", None)
    keyring = install_certificate(tmp_path / "hub", org.certify_hub(hub_request(tmp_path / "hub")))
    key_path, request_path = tmp_path / "me" / keys.KEY_FILE, tmp_path / "me.request"
    keys.new_key("Ms Smith", key_path, request_path)
    assert os.stat(key_path).st_mode & 0o077 == 0
    with pytest.raises(FileExistsError, match="--replace"):
        keys.new_key("Ms Smith", key_path, request_path)
    request = CertificateRequest.decode(request_path.read_bytes())
    assert key_path.read_bytes() not in request_path.read_bytes()
    with Store.open(keyring.store_path) as store:
        card = add_staff(
            keyring,
            store,
            org.certify_staff(request, role=Role.TEACHER, groups=("7B",)),
        )
        other = add_staff(
            keyring,
            store,
            org.certify_staff(
                make_request(PrivateKey.generate(), Requester.STAFF, "Mr Jones"),
                role=Role.TEACHER,
                groups=("7B",),
            ),
        )
    with pytest.raises(ValueError, match="another key"):
        keys.install_card(other, key_path, tmp_path / "me" / "staff.credential")
    credential = keys.install_card(card, key_path, tmp_path / "me" / "staff.credential")
    assert credential.key.public == request.subject
    assert os.stat(tmp_path / "me" / "staff.credential").st_mode & 0o077 == 0


def test_a_guardians_certificate_names_their_childs_devices_and_only_a_guardians_does(
    tmp_path: Path,
) -> None:
    org = Organisation.create(tmp_path / "org", None)
    request = make_request(PrivateKey.generate(), Requester.STAFF, "Ada's mum")
    ada = PrivateKey.generate().public.fingerprint
    with pytest.raises(ValueError, match="needs at least one --device"):
        org.certify_staff(request, role=Role.GUARDIAN, groups=("7B",))
    with pytest.raises(ValueError, match="only a guardian's certificate names devices"):
        org.certify_staff(request, role=Role.TEACHER, groups=("7B",), devices=(ada,))
    with pytest.raises(ValueError, match="at most 16 devices"):
        org.certify_staff(request, role=Role.GUARDIAN, groups=("7B",), devices=[ada] * 17)
    teacher = org.certify_staff(request, role=Role.TEACHER, groups=("7B",))
    mum = org.certify_staff(request, role=Role.GUARDIAN, groups=("7B",), devices=(ada,))
    assert mum.body.devices == (ada,) and teacher.body.devices == ()
    # The log says which devices, and a line without any reads as it did before.
    first, second = org.issued()
    assert (first.devices, second.devices) == ((), (ada,))
    assert b"devices" not in (tmp_path / "org" / "issued.jsonl").read_bytes().splitlines()[0]
