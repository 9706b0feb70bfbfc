"""The websockets asyncio client (agent and console alike), loaded after link.deferred."""

from __future__ import annotations

from .deferred import UNUSED_BY_HOMEROOM, defer_import

# isort: split
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["UNUSED_BY_HOMEROOM", "ClientConnection", "ConnectionClosed", "connect", "defer_import"]
