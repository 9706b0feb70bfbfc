"""Outside their class session, a teacher cannot watch or command that class's devices.

The rule is the hub's (a class session lives in the hub's memory and is not signed, so a
device cannot check it): for a teacher's command, each target that belongs to a class
is reached only if one of its classes is in a session this teacher started. A device in
no class has no session to ask for, and falls to its group alone (and the policy
windows). IT and admins are not bound by class sessions. Stopping a watch is always
allowed: it only ends something.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from protocol.certificates import CertificateBody, Role

from .class_sessions import ClassSession
from .store import ClassRecord


def outside_sessions(
    staff: CertificateBody,
    targets: Collection[str],
    classes: Iterable[ClassRecord],
    sessions: Mapping[str, ClassSession],
) -> set[str]:
    """The targets `staff` may not reach now, for want of a class session of theirs."""
    if staff.role is not Role.TEACHER or not targets:
        return set()
    mine = {name for name, session in sessions.items() if session.teacher_serial == staff.serial}
    wanted = set(targets)
    classes_of: dict[str, set[str]] = {}
    for klass in classes:
        for device_id in wanted.intersection(klass.device_ids):
            classes_of.setdefault(device_id, set()).add(klass.name)
    return {device_id for device_id, names in classes_of.items() if not names & mine}
