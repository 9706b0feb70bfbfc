"""App-wide messages: which queued updates a newer one may collapse."""

from __future__ import annotations

from console.messages import (
    DeviceChanged,
    HubStatusChanged,
    OutcomeReceived,
    PictureReceived,
    RosterChanged,
)
from console.roster import ActionOutcome, DeviceView

ADA = DeviceView("d1", "Ada", "7B", online=True)
BEN = DeviceView("d2", "Ben", "7B", online=True)


def test_updates_of_one_device_collapse_but_not_across_devices() -> None:
    assert DeviceChanged(ADA).can_replace(DeviceChanged(ADA))
    assert not DeviceChanged(ADA).can_replace(DeviceChanged(BEN))
    assert PictureReceived("d1", b"old").can_replace(PictureReceived("d1", b"new"))
    assert not PictureReceived("d1", b"a").can_replace(PictureReceived("d2", b"b"))
    assert not DeviceChanged(ADA).can_replace(PictureReceived("d1", b"x"))


def test_rosters_and_hub_status_collapse_into_the_newest() -> None:
    assert RosterChanged((ADA,)).can_replace(RosterChanged((ADA, BEN)))
    assert HubStatusChanged("reconnecting", False).can_replace(HubStatusChanged("ok", True))


def test_outcomes_never_collapse() -> None:
    outcome = OutcomeReceived(ActionOutcome("d1", True, "ok", "locked"))

    assert not outcome.can_replace(OutcomeReceived(ActionOutcome("d1", True, "ok", "locked")))
