"""A small school's keys and certificates for protocol tests, made fresh per test."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from protocol.certificates import Certificate, Role, issue_certificate
from protocol.keys import PrivateKey

NOW = 1_790_000_000  # a fixed "now" (2026-09): tests never read the clock
YEAR = 365 * 24 * 3600


@dataclass
class Person:
    key: PrivateKey
    certificate: Certificate


@dataclass
class School:
    org: PrivateKey = field(default_factory=PrivateKey.generate)
    device_group: str = "7B"

    def certify(
        self,
        name: str,
        role: Role,
        groups: tuple[str, ...] = ("7B",),
        *,
        lifetime: int = YEAR,
        org: PrivateKey | None = None,
        devices: tuple[str, ...] = (),
    ) -> Person:
        key = PrivateKey.generate()
        certificate = issue_certificate(
            org or self.org,
            key.public,
            name=name,
            role=role,
            groups=groups,
            now=NOW - 86_400,
            lifetime=lifetime,
            devices=devices,
        )
        return Person(key, certificate)


@pytest.fixture
def school() -> School:
    return School()
