"""Homeroom's wire protocol and trust core: pure data and functions, no I/O.

Hub, agent and console are thin layers over this package; everything two of
them share is written here once. Importing it pulls in neither asyncio nor
websockets (a test checks).

Modules that define wire structs do without `from __future__ import annotations`: msgspec
then reads each struct's field types as Python made them at import, where it would otherwise
compile every annotation string the first time a type is decoded or checked (18 ms of a
`homeroom-console do`, measured here). A forward reference is written in quotes.
"""

from .errors import GUIDANCE, ErrorCode, HomeroomError, PeerError, UsageError
from .messages import PROTOCOL_VERSIONS

__all__ = [
    "GUIDANCE",
    "PROTOCOL_VERSIONS",
    "ErrorCode",
    "HomeroomError",
    "PeerError",
    "UsageError",
]
