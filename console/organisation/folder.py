"""The organisation's folder: its key, the certificates it signed, its revocation lists.

Meant for an admin's laptop or a USB stick kept offline, never the hub: whoever holds
this folder (and its passphrase) can certify a hub or an admin, so nothing here is needed
for the hub to run. Each certificate signed is logged in `issued.jsonl` so an admin can
see what they certified and revoke it by serial.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import msgspec

from link.files import write_private
from protocol.certificates import (
    MAX_DEVICES,
    STAFF_ROLES,
    Certificate,
    Role,
    issue_certificate,
)
from protocol.codec import decode_as
from protocol.keys import PrivateKey, PublicKey
from protocol.requests import CertificateRequest, HubGrant, Requester
from protocol.revocation import REVOCATION_LIFETIME, RevocationList, sign_revocation_list

from . import sealed

KEY_FILE = "org.key"
ISSUED_FILE = "issued.jsonl"
REVOCATION_FILE = "revocation.json"
#: Files that mark a hub's data folder: the organisation is not created inside one.
HUB_FILES = ("hub.key", "hub.sqlite3")

HUB_CERT_LIFETIME = 5 * 365 * 24 * 3600
STAFF_CERT_LIFETIME = 365 * 24 * 3600


class Issued(msgspec.Struct, frozen=True, omit_defaults=True):
    """One line of the log of what this organisation certified."""

    serial: str
    name: str
    role: str
    groups: tuple[str, ...]
    issued_at: int
    expires_at: int
    subject: str  # the key's fingerprint
    devices: tuple[str, ...] = ()  # a guardian's: their children's devices


@dataclass(frozen=True)
class Organisation:
    """An open organisation folder: the key is in memory only while a command runs."""

    folder: Path
    key: PrivateKey

    @property
    def public(self) -> PublicKey:
        return self.key.public

    @classmethod
    def create(
        cls, folder: Path, passphrase: str | None, *, adopt: PrivateKey | None = None
    ) -> Organisation:
        """A new organisation key in `folder`, sealed under `passphrase` (None: not sealed).

        `adopt`: keep an existing key instead (an older hub's org.key, moved off the hub).
        """
        if (folder / KEY_FILE).exists():
            raise FileExistsError(
                f"{folder} already holds an organisation key; refusing to overwrite it "
                "(every device and staff certificate depends on it)."
            )
        if found := [name for name in HUB_FILES if (folder / name).exists()]:
            raise FileExistsError(
                f"{folder} is a hub's data folder ({', '.join(found)}): keep the organisation "
                "in a folder of its own, ideally on another machine or a USB stick."
            )
        if passphrase == "":
            raise ValueError("an empty passphrase protects nothing: choose one, or --no-passphrase")
        key = adopt or PrivateKey.generate()
        data = key.to_bytes() if passphrase is None else sealed.seal(key, passphrase)
        write_private(folder / KEY_FILE, data)
        folder.chmod(0o700)
        return cls(folder, key)

    @classmethod
    def open(cls, folder: Path, passphrase: str | None) -> Organisation:
        """The organisation in `folder`; raises sealed.WrongPassphrase or FileNotFoundError."""
        path = folder / KEY_FILE
        if not path.exists():
            raise FileNotFoundError(
                f"No organisation in {folder}. Create one with: homeroom-org --org {folder} init"
            )
        data = path.read_bytes()
        if not sealed.is_sealed(data):
            return cls(folder, PrivateKey.from_bytes(data))
        if passphrase is None:
            raise sealed.WrongPassphrase(f"the organisation key in {folder} needs its passphrase")
        return cls(folder, sealed.unseal(data, passphrase))

    @staticmethod
    def needs_passphrase(folder: Path) -> bool:
        path = folder / KEY_FILE
        return path.exists() and sealed.is_sealed(path.read_bytes())

    def certify_hub(
        self,
        request: CertificateRequest,
        *,
        now: int | None = None,
        lifetime: int = HUB_CERT_LIFETIME,
    ) -> HubGrant:
        """The certificate a hub presents to devices, with the key they check it against."""
        if request.body.requester is not Requester.HUB:
            raise ValueError("that is a staff member's request: certify it with certify-staff")
        certificate = self._certify(request, Role.HUB, ("*",), now=now, lifetime=lifetime)
        return HubGrant(org_key=self.public.raw, certificate=certificate)

    def certify_staff(
        self,
        request: CertificateRequest,
        *,
        role: Role,
        groups: Collection[str],
        devices: Collection[str] = (),
        now: int | None = None,
        lifetime: int = STAFF_CERT_LIFETIME,
    ) -> Certificate:
        """A staff certificate for the key in `request`, made on the staff member's machine.

        A guardian's names their own children's `devices` (ids, as `homeroom-hub devices`
        shows them) and covers those only; the hub checks they exist when it records it.
        """
        if request.body.requester is not Requester.STAFF:
            raise ValueError("that is a hub's request: certify it with certify-hub")
        if role not in STAFF_ROLES:
            raise ValueError(f"{role.value} is not a staff role")
        if not groups:
            raise ValueError(f"a {role.value} needs at least one --group (or '*' for all)")
        if role is Role.GUARDIAN and not devices:
            raise ValueError(
                "a guardian needs at least one --device: their own child's, by the id "
                "'homeroom-hub devices' shows on the hub"
            )
        if len(devices) > MAX_DEVICES:
            raise ValueError(f"a certificate names at most {MAX_DEVICES} devices")
        if role is not Role.GUARDIAN and devices:
            raise ValueError(f"only a guardian's certificate names devices, not a {role.value}'s")
        return self._certify(
            request, role, tuple(groups), devices=tuple(devices), now=now, lifetime=lifetime
        )

    def _certify(
        self,
        request: CertificateRequest,
        role: Role,
        groups: tuple[str, ...],
        *,
        devices: tuple[str, ...] = (),
        now: int | None,
        lifetime: int,
    ) -> Certificate:
        certificate = issue_certificate(
            self.key,
            request.subject,
            name=request.body.name,
            role=role,
            groups=groups,
            now=int(time.time()) if now is None else now,
            lifetime=lifetime,
            devices=devices,
        )
        body = certificate.body
        line = Issued(
            body.serial,
            body.name,
            role.value,
            groups,
            body.issued_at,
            body.expires_at,
            request.subject.fingerprint,
            devices,
        )
        with (self.folder / ISSUED_FILE).open("ab") as log:
            log.write(msgspec.json.encode(line) + b"\n")
        return certificate

    def issued(self) -> list[Issued]:
        try:
            lines = (self.folder / ISSUED_FILE).read_bytes().splitlines()
        except FileNotFoundError:
            return []
        return [msgspec.json.decode(line, type=Issued) for line in lines if line.strip()]

    def revocations(self) -> RevocationList | None:
        """The newest list this organisation signed, if any."""
        try:
            data = (self.folder / REVOCATION_FILE).read_bytes()
        except FileNotFoundError:
            return None
        held: RevocationList = decode_as(data, RevocationList, str(self.folder / REVOCATION_FILE))
        return held

    def revoke(
        self,
        serials: Collection[str],
        *,
        now: int | None = None,
        lifetime: int = REVOCATION_LIFETIME,
    ) -> RevocationList:
        """Sign the next list: every serial revoked before, and `serials` (any serial at all,
        since a certificate signed from a stolen backup is in no log)."""
        held = self.revocations()
        before = set() if held is None else set(held.body.serials)
        revocations = sign_revocation_list(
            self.key,
            before | set(serials),
            sequence=1 if held is None else held.body.sequence + 1,
            now=int(time.time()) if now is None else now,
            lifetime=lifetime,
        )
        write_private(self.folder / REVOCATION_FILE, msgspec.json.encode(revocations))
        return revocations
