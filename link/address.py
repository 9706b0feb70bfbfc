"""How to dial a hub address, whichever client dials it (link.dial, link.blocking)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from protocol.frames import MAX_FRAME_BYTES
from protocol.tokens import is_loopback

from .tls import client_context


def connect_options(url: str, open_timeout: float) -> dict[str, Any]:
    """websockets' `connect` options for the hub at `url`: TLS for wss://, Homeroom's limits.

    Raises ValueError for a plain ws:// address off this computer: it would carry
    credentials and screens in the clear.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    if not secure and not is_loopback(parts.hostname or ""):
        raise ValueError(
            f"{url} is not encrypted: plain ws:// is only for a hub on this same computer. "
            "Use the wss:// address IT gave you."
        )
    return {
        "ssl": client_context() if secure else None,
        "max_size": MAX_FRAME_BYTES,
        "compression": None,
        "open_timeout": open_timeout,
        "proxy": None,  # direct, and websockets never loads urllib.request (link.deferred)
        "user_agent_header": "Homeroom",
    }
