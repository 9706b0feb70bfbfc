"""The hub's data folder: keys, certificates, TLS files and the store, made by `init`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from link.files import write_private
from protocol.certificates import Certificate, Role, issue_certificate
from protocol.codec import decode_as
from protocol.credentials import StaffCredential
from protocol.handshake import channel_of
from protocol.keys import PrivateKey, PublicKey

from .store import Store
from .tls import certificate_der, make_self_signed

HUB_CERT_LIFETIME = 10 * 365 * 24 * 3600
STAFF_CERT_LIFETIME = 365 * 24 * 3600


@dataclass(frozen=True)
class Keyring:
    """Everything the hub reads from its data folder at start."""

    folder: Path
    org_key: PrivateKey
    hub_key: PrivateKey
    hub_certificate: Certificate
    hub_url: str

    @property
    def org_public(self) -> PublicKey:
        return self.org_key.public

    @property
    def store_path(self) -> Path:
        return self.folder / "hub.sqlite3"

    @property
    def tls_cert_path(self) -> Path:
        return self.folder / "tls-cert.pem"

    @property
    def tls_key_path(self) -> Path:
        return self.folder / "tls-key.pem"

    @property
    def channel(self) -> bytes:
        return channel_of(certificate_der(self.tls_cert_path.read_bytes()))

    def staff_credential(
        self,
        name: str,
        role: Role,
        groups: tuple[str, ...],
        *,
        now: int | None = None,
        lifetime: int = STAFF_CERT_LIFETIME,
        hub_url: str | None = None,
        devices: tuple[str, ...] = (),
    ) -> StaffCredential:
        """A new key and organisation-signed certificate for one staff member (for a
        guardian, naming their children's `devices`)."""
        key = PrivateKey.generate()
        certificate = issue_certificate(
            self.org_key,
            key.public,
            name=name,
            role=role,
            groups=groups,
            now=int(time.time()) if now is None else now,
            lifetime=lifetime,
            devices=devices,
        )
        return StaffCredential(
            hub_url=hub_url or self.hub_url,
            hub=self.hub_key.public.fingerprint,
            org=self.org_key.public.fingerprint,
            certificate=certificate,
            private_key=key.to_bytes(),
        )

    @classmethod
    def load(cls, folder: Path) -> Keyring:
        if not (folder / "hub.key").exists():
            raise FileNotFoundError(
                f"No hub in {folder}. Create one with: homeroom-hub init --data {folder}"
            )
        return cls(
            folder=folder,
            org_key=PrivateKey.from_bytes((folder / "org.key").read_bytes()),
            hub_key=PrivateKey.from_bytes((folder / "hub.key").read_bytes()),
            hub_certificate=decode_as(
                (folder / "hub.cert").read_bytes(), Certificate, "hub certificate"
            ),
            hub_url=(folder / "hub.url").read_text().strip(),
        )


def init_hub(folder: Path, *, hub_url: str, names: list[str]) -> Keyring:
    """Create the organisation and hub keys, the TLS certificate and the store in `folder`."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    existing = [name for name in ("org.key", "hub.key", "hub.sqlite3") if (folder / name).exists()]
    if existing:
        raise FileExistsError(
            f"{folder} already holds a hub ({', '.join(existing)}); refusing to overwrite it."
        )
    org_key, hub_key = PrivateKey.generate(), PrivateKey.generate()
    hub_certificate = issue_certificate(
        org_key,
        hub_key.public,
        name="hub",
        role=Role.HUB,
        groups=("*",),
        now=int(time.time()),
        lifetime=HUB_CERT_LIFETIME,
    )
    import msgspec

    write_private(folder / "org.key", org_key.to_bytes())
    write_private(folder / "hub.key", hub_key.to_bytes())
    (folder / "hub.cert").write_bytes(msgspec.json.encode(hub_certificate))
    (folder / "hub.url").write_text(hub_url + "\n")
    cert_pem, key_pem = make_self_signed(names)
    write_private(folder / "tls-key.pem", key_pem)
    (folder / "tls-cert.pem").write_bytes(cert_pem)
    keyring = Keyring.load(folder)
    Store.open(keyring.store_path).close()
    return keyring
