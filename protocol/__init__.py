"""Homeroom's wire protocol and trust core: pure data and functions, no I/O.

Hub, agent and console are thin layers over this package; everything two of
them share is written here once. Importing it pulls in neither asyncio nor
websockets (a test checks).
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
