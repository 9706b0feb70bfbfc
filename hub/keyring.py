"""The hub's data folder: its own key, its certificate, TLS files and the store.

The folder holds nothing that can certify anyone: `init` makes the hub's key and a
request (`hub.request`); the organisation, on an admin's machine, signs it with
`homeroom-org certify-hub`; `install_certificate` puts the answer here (`hub.cert`,
`org.pub`). The hub's key signs only its side of each handshake, and a device checks
every command against the organisation's key, which never comes here.

Rotating the hub's key: `rotate` makes `hub.next.key` and a request for it; once the
organisation certifies it, `install_certificate` puts it in place of `hub.key`. Devices
accept the new key because it chains to the organisation they pinned.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from link.files import write_private
from protocol.certificates import Certificate, Role, verify_certificate
from protocol.codec import decode_as
from protocol.handshake import channel_of
from protocol.keys import PrivateKey, PublicKey
from protocol.requests import HubGrant, Requester, make_request

from .store import Store
from .tls import certificate_der, make_self_signed

HUB_KEY = "hub.key"
NEXT_KEY = "hub.next.key"
REQUEST = "hub.request"
#: The organisation key's file in its own folder: never in the hub's.
ORG_PRIVATE_KEY = "org.key"


@dataclass(frozen=True)
class Keyring:
    """Everything the hub reads from its data folder at start."""

    folder: Path
    org_public: PublicKey
    hub_key: PrivateKey
    hub_certificate: Certificate
    hub_url: str

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

    @classmethod
    def load(cls, folder: Path) -> Keyring:
        if not (folder / HUB_KEY).exists():
            raise FileNotFoundError(
                f"No hub in {folder}. Create one with: homeroom-hub init --data {_quoted(folder)}"
            )
        if (folder / ORG_PRIVATE_KEY).exists():
            raise FileExistsError(
                f"{folder / ORG_PRIVATE_KEY} is the organisation's key, and it must not stay on "
                "the hub. Move it off: see 'Moving the organisation key off an older hub' in "
                "docs/operations.md."
            )
        if not (folder / "hub.cert").exists():
            raise FileNotFoundError(
                f"The hub in {folder} has no certificate from the organisation yet. On the "
                "organisation's machine, certify its request (then install what that writes):\n"
                f"  homeroom-org --org ORG certify-hub {_quoted(folder / REQUEST)}"
            )
        return cls(
            folder=folder,
            org_public=PublicKey(bytes.fromhex((folder / "org.pub").read_text().strip())),
            hub_key=PrivateKey.from_bytes((folder / HUB_KEY).read_bytes()),
            hub_certificate=decode_as(
                (folder / "hub.cert").read_bytes(), Certificate, "hub certificate"
            ),
            hub_url=(folder / "hub.url").read_text().strip(),
        )


def _quoted(path: Path) -> str:
    return shlex.quote(str(path))


def init_hub(folder: Path, *, hub_url: str, names: list[str]) -> Path:
    """Create the hub's key, its certificate request, the TLS certificate and the store.

    Returns the request's path: the organisation certifies it (`homeroom-org certify-hub`)
    before the hub can serve.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    existing = [name for name in (HUB_KEY, "hub.sqlite3") if (folder / name).exists()]
    if existing:
        raise FileExistsError(
            f"{folder} already holds a hub ({', '.join(existing)}); refusing to overwrite it."
        )
    if (folder / ORG_PRIVATE_KEY).exists():
        raise FileExistsError(
            f"{folder} holds an organisation key: keep the hub's data in a folder of its own."
        )
    hub_key = PrivateKey.generate()
    write_private(folder / HUB_KEY, hub_key.to_bytes())
    (folder / "hub.url").write_text(hub_url + "\n")
    cert_pem, key_pem = make_self_signed(names)
    write_private(folder / "tls-key.pem", key_pem)
    (folder / "tls-cert.pem").write_bytes(cert_pem)
    Store.open(folder / "hub.sqlite3").close()
    return _write_request(folder, hub_key)


def request_again(folder: Path) -> Path:
    """A request for the hub's current key: a lost request, or an older hub whose
    organisation key was moved off it and which now needs `org.pub` and a new certificate."""
    if (folder / ORG_PRIVATE_KEY).exists():
        raise FileExistsError(
            f"{folder / ORG_PRIVATE_KEY} is still here: adopt it on the organisation's machine "
            "(homeroom-org init --adopt), then delete it from the hub first"
        )
    return _write_request(folder, PrivateKey.from_bytes((folder / HUB_KEY).read_bytes()))


def rotate(folder: Path) -> Path:
    """A new hub key beside the current one, and its request; the current key serves on."""
    Keyring.load(folder)  # only a working hub rotates
    return _write_request(folder, PrivateKey.generate(), key_file=NEXT_KEY)


def _write_request(folder: Path, key: PrivateKey, *, key_file: str = HUB_KEY) -> Path:
    if key_file != HUB_KEY:
        write_private(folder / key_file, key.to_bytes())
    path = folder / REQUEST
    path.write_bytes(make_request(key, Requester.HUB, "hub").encode())
    return path


def install_certificate(folder: Path, grant: HubGrant, *, now: int | None = None) -> Keyring:
    """Put the organisation's answer to `hub.request` in place; returns the keyring.

    The certificate must be for this hub's key or for the key `rotate` made (which then
    replaces it), and from the organisation this hub already serves, if any: devices have
    pinned that organisation, and a hub that changed it would lose every one of them.
    """
    subject = PublicKey(grant.certificate.body.subject_key)
    if grant.certificate.body.role is not Role.HUB:
        raise ValueError("that is a staff certificate: record it with homeroom-hub staff add")
    verify_certificate(grant.certificate, grant.org, now=int(time.time()) if now is None else now)
    pinned = folder / "org.pub"
    if pinned.exists() and pinned.read_text().strip() != grant.org_key.hex():
        raise ValueError(
            "that certificate is from another organisation than the one this hub serves; "
            "devices pinned the first one, so it cannot change here"
        )
    current = PrivateKey.from_bytes((folder / HUB_KEY).read_bytes())
    following = folder / NEXT_KEY
    if following.exists() and PrivateKey.from_bytes(following.read_bytes()).public == subject:
        following.replace(folder / HUB_KEY)
    elif current.public != subject:
        raise ValueError(
            "that certificate is for another hub's key: certify this hub's hub.request"
        )
    pinned.write_text(grant.org_key.hex() + "\n")
    (folder / "hub.cert").write_bytes(msgspec.json.encode(grant.certificate))
    (folder / REQUEST).unlink(missing_ok=True)
    return Keyring.load(folder)
