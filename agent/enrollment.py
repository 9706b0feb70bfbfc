"""Enrolling a device: a fresh key, the token's pins, and the hub's welcome."""

from __future__ import annotations

from pathlib import Path

from link.dial import open_session
from protocol.errors import ErrorCode, PeerError
from protocol.handshake import ClientHandshake, HubPins
from protocol.keys import PrivateKey
from protocol.messages import ClientRole
from protocol.tokens import parse_token

from .state import STATE_FILE, AgentState, save_state


async def enroll(token_text: str, name: str, folder: Path) -> AgentState:
    """Join the hub named in the token; the device's private key is made here and stays here."""
    if (folder / STATE_FILE).exists():
        raise FileExistsError(
            f"This device is already enrolled ({folder / STATE_FILE}). "
            "To move it to another hub, remove that file first."
        )
    token = parse_token(token_text)
    key = PrivateKey.generate()

    def handshake(channel: bytes) -> ClientHandshake:
        return ClientHandshake(
            role=ClientRole.ENROLL,
            key=key,
            pins=HubPins(hub=token.hub, org=token.org),
            channel=channel,
            token=token,
            device_name=name,
        )

    ws, endpoint = await open_session(token.hub_url, handshake)
    await ws.close()
    welcome = endpoint.welcome
    assert welcome is not None and endpoint.org_key is not None
    if welcome.device_id != key.public.fingerprint:
        raise PeerError(ErrorCode.DEVICE_KEY_MISMATCH, "the hub registered another key")
    state = AgentState(
        hub_url=token.hub_url,
        hub=token.hub,
        org=token.org,
        org_key=endpoint.org_key.raw,
        device_id=welcome.device_id,
        name=welcome.name,
        group=welcome.group or "",
        private_key=key.to_bytes(),
    )
    save_state(folder, state)
    return state
