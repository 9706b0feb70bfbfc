"""A device that drops off during its class's session is flagged to that session's teacher.

Stopping the agent is the first bypass a student tries: the hub notices the connection
end and tells the teacher at once, with the time, rather than leaving a grey tile to be
spotted. A device replaced by its own newer connection has not dropped off, and outside
a session nobody is told (a device at home going offline is nobody's business).
"""

from __future__ import annotations

from collections.abc import Iterable

from protocol.limits import MAX_SHORT_TEXT, fit
from protocol.messages import DeviceAlert

from .class_sessions import ClassSession
from .store import ClassRecord, DeviceRecord


def left_session_alerts(
    device: DeviceRecord,
    classes: Iterable[ClassRecord],
    sessions: dict[str, ClassSession],
    at: int,
) -> list[tuple[str, DeviceAlert]]:
    """(teacher's certificate serial, alert) for each session on now that has `device`."""
    alerts = []
    for klass in classes:
        session = sessions.get(klass.name)
        if session is None or device.device_id not in klass.device_ids:
            continue
        detail = fit(f"went offline during {klass.name}", MAX_SHORT_TEXT, printable=True)
        alert = DeviceAlert(device_id=device.device_id, kind="left_session", at=at, detail=detail)
        alerts.append((session.teacher_serial, alert))
    return alerts
