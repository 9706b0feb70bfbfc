"""A group's policy: when staff may do what to its devices, signed by an admin.

Theory of operation. An admin writes a policy for one group (docs/operations.md): the
group's time zone, its school week, term dates and holidays, optional address ranges that
count as the school's network, and named windows (school, home, night...). Each window
says when it is open (a local time range on some days, on school days or other days, on
or off the school's network), which roles may do which actions while it is open, whether
the screen may be captured at all, and whether the device locks itself.

`window_at` finds the window open at a moment: the first one listed that matches, so
order expresses priority. Outside every window nobody may do anything (fail closed).
`decide` answers one question: may this role do this action now? A refusal names the
window, so the person refused reads why.

The admin signs the policy with their own staff key; hub and agent verify it through the
same certificate chain as a signed command (`verify_policy`), so a hub can neither forge
nor alter one. Policies are numbered: a device keeps the highest number it has seen and
refuses any lower one (`newer_than`), so an older policy cannot be replayed.

Pure: no files, no clock. The caller turns `time_zone` into a tzinfo (zoneinfo reads the
system's tz database) and passes the time and, where known, the device's address.
"""

import ipaddress
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .actions import ACTIONS, Clock, TakeScreenshot, Unwatch, Watch
from .certificates import CLOCK_SKEW, Certificate, CertificateBody, Role, verify_certificate
from .codec import WireStruct, canonical
from .errors import ErrorCode, PeerError, UsageError
from .keys import PrivateKey, PublicKey, Purpose
from .limits import MAX_POLICY_WINDOWS, MAX_SHORT_TEXT
from .types import GroupName, LongText, Signature, Timestamp

#: Actions that capture the screen: impossible in a window with `capture = false`.
CAPTURE_ACTIONS = frozenset({str(t.__struct_config__.tag) for t in (Watch, TakeScreenshot)})
#: Stopping a watch only ever reduces what staff see: allowed in every window.
ALWAYS_ALLOWED = frozenset({str(Unwatch.__struct_config__.tag)})
#: In a grant, every action the role may sign.
ALL_ACTIONS = "*"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_POLICY_BYTES = 60 * 1024

WindowName = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
ActionName = Annotated[str, Meta(pattern=r"^(\*|[a-z][a-z0-9_]{0,31})$")]
IsoDate = Annotated[str, Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
Weekday = Annotated[int, Meta(ge=0, le=6)]
#: An IANA time zone name such as "Europe/London".
ZoneName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$", max_length=64)]
#: An address range such as "10.20.0.0/16" or "2001:db8::/32".
AddressRange = Annotated[str, Meta(max_length=50)]
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


class Grant(WireStruct, frozen=True):
    """What one role may do while a window is open: action names, or "*" for all."""

    role: Role
    actions: Annotated[tuple[ActionName, ...], Meta(max_length=64)]

    def check_rules(self) -> None:
        if self.role is Role.HUB:
            raise ValueError("the hub is not a staff role; grant teacher, it, admin or guardian")
        unknown = [a for a in self.actions if a != ALL_ACTIONS and a not in ACTIONS]
        if unknown:
            raise ValueError(
                f"unknown action {unknown[0]!r}; actions are {', '.join(sorted(ACTIONS))}"
            )


class DateRange(WireStruct, frozen=True):
    """From `start` to `end`, both days included (YYYY-MM-DD)."""

    start: IsoDate
    end: IsoDate

    def check_rules(self) -> None:
        try:
            first, last = date.fromisoformat(self.start), date.fromisoformat(self.end)
        except ValueError as error:
            raise ValueError(f"not a date: {error}") from None
        if last < first:
            raise ValueError(f"{self.start} to {self.end} ends before it starts")

    def holds(self, day: date) -> bool:
        return self.start <= day.isoformat() <= self.end  # ISO dates sort as text


class Window(WireStruct, frozen=True):
    """A named stretch of time, and what staff may do during it.

    `start`..`end` is local time; an end at or before the start runs past midnight
    (22:00..06:30 is a night), and equal times mean the whole day. `days` are the days
    the window starts on (0 = Monday); `on` narrows them to school days or other days;
    `network` to the school's address ranges ("school") or elsewhere ("away").
    """

    name: WindowName
    start: Clock
    end: Clock
    days: Annotated[tuple[Weekday, ...], Meta(min_length=1, max_length=7)] = EVERY_DAY
    on: Literal["any_day", "school_days", "other_days"] = "any_day"
    network: Literal["any", "school", "away"] = "any"
    capture: bool = False
    lock_device: bool = False
    lock_message: Annotated[str, Meta(max_length=MAX_SHORT_TEXT)] = ""
    allow: Annotated[tuple[Grant, ...], Meta(max_length=8)] = ()

    def check_rules(self) -> None:
        roles = [grant.role for grant in self.allow]
        if len(set(roles)) != len(roles):
            raise ValueError(f"window {self.name!r} lists a role twice")

    def grants(self, role: Role, action: str) -> bool:
        return any(
            grant.role is role and (action in grant.actions or ALL_ACTIONS in grant.actions)
            for grant in self.allow
        )


class PolicyRules(WireStruct, frozen=True):
    """Everything an admin writes in a policy file: the calendar and the windows."""

    time_zone: ZoneName
    windows: Annotated[tuple[Window, ...], Meta(max_length=MAX_POLICY_WINDOWS)]
    school_week: Annotated[tuple[Weekday, ...], Meta(max_length=7)] = (0, 1, 2, 3, 4)
    terms: Annotated[tuple[DateRange, ...], Meta(max_length=16)] = ()
    holidays: Annotated[tuple[DateRange, ...], Meta(max_length=128)] = ()
    school_networks: Annotated[tuple[AddressRange, ...], Meta(max_length=64)] = ()
    note: LongText = ""

    def check_rules(self) -> None:
        names = [window.name for window in self.windows]
        if len(set(names)) != len(names):
            raise ValueError("each window has its own name")
        for text in self.school_networks:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"{text!r} is not an address range like 10.20.0.0/16") from None
        fenced = [w.name for w in self.windows if w.network != "any"]
        if fenced and not self.school_networks:
            raise ValueError(
                f"window {fenced[0]!r} depends on the network, but no school networks are listed"
            )


class PolicyBody(WireStruct, frozen=True):
    """One group's rules as policy number `sequence`, signed by `issuer` (an admin)."""

    group: GroupName
    sequence: Annotated[int, Meta(ge=1, lt=2**53)]
    issued_at: Timestamp
    issuer: Certificate
    rules: PolicyRules

    def check_rules(self) -> None:
        if self.group == "*":
            raise ValueError("a policy is for one group, not '*'")


class SignedPolicy(WireStruct, frozen=True):
    MAX_BYTES = MAX_POLICY_BYTES
    body: PolicyBody
    signature: Signature


def sign_policy(
    admin_key: PrivateKey,
    certificate: Certificate,
    rules: PolicyRules,
    *,
    group: str,
    sequence: int,
    now: int,
) -> SignedPolicy:
    """Sign `rules` for `group` as policy number `sequence` with an admin's own key."""
    if certificate.body.subject_key != admin_key.public.raw:
        raise UsageError("the certificate does not belong to this key")
    body = canonical(
        PolicyBody(group=group, sequence=sequence, issued_at=now, issuer=certificate, rules=rules)
    )
    signature = admin_key.sign(Purpose.POLICY, msgspec.json.encode(body))
    return SignedPolicy(body=body, signature=signature)


def verify_policy(
    policy: SignedPolicy,
    *,
    org_key: PublicKey,
    group: str,
    now: int,
    revoked: Collection[str] = (),
) -> PolicyBody:
    """Accept a policy for `group` or raise PeerError naming the first check that failed.

    The signer's certificate chains to the organisation key and was in date when it
    signed (a policy outlives the day it was signed, not its signer's revocation); the
    signer is an admin over `group`; the signature covers the whole body; the policy is
    not dated ahead of `now`.
    """
    body = policy.body
    signer: CertificateBody = verify_certificate(
        body.issuer, org_key, now=body.issued_at, revoked=revoked
    )
    PublicKey(signer.subject_key).verify(
        Purpose.POLICY, msgspec.json.encode(body), policy.signature
    )
    if signer.role is not Role.ADMIN:
        raise PeerError(ErrorCode.ROLE_FORBIDDEN, f"{signer.role.value} may not set a policy")
    if body.group != group or not signer.covers_group(group):
        raise PeerError(ErrorCode.GROUP_FORBIDDEN, f"policy for {body.group!r}, not {group!r}")
    if now + CLOCK_SKEW < body.issued_at:
        raise PeerError(ErrorCode.COMMAND_NOT_YET_VALID, f"policy {body.sequence} is dated ahead")
    return body


def newer_than(offered: SignedPolicy, held: SignedPolicy | None) -> bool:
    """Whether `offered` replaces `held`: True if newer, False if the same policy again.

    Raises PeerError(POLICY_OUTDATED) for an older policy, or a different one under the
    same number (an admin's tool never signs two). Both must already be verified.
    """
    if held is None or offered.body.sequence > held.body.sequence:
        return True
    if offered.body == held.body:
        return False
    raise PeerError(
        ErrorCode.POLICY_OUTDATED,
        f"policy {offered.body.sequence} offered, {held.body.sequence} held",
    )


# --- Windows and decisions -------------------------------------------------------------


class Policy(msgspec.Struct, frozen=True):
    """A verified policy's rules with its time zone resolved (zoneinfo, by the caller)."""

    rules: PolicyRules
    zone: tzinfo
    group: str = ""
    sequence: int = 0

    @classmethod
    def of(cls, body: PolicyBody, zone: tzinfo) -> "Policy":
        return cls(body.rules, zone, body.group, body.sequence)


#: Where no window is open: nobody may do anything, nothing is captured.
OUTSIDE_NAME = "outside every window"


def window_at(policy: Policy, when: float, address: str | None = None) -> Window | None:
    """The window open at `when` (Unix time) for a device at `address`; None outside all.

    An unknown address counts as away from school: a device knows no better offline.
    """
    local = datetime.fromtimestamp(when, UTC).astimezone(policy.zone)
    at_school = _at_school(policy.rules, address)
    for window in policy.rules.windows:
        if window.network == "school" and not at_school:
            continue
        if window.network == "away" and at_school:
            continue
        if _open(policy.rules, window, local):
            return window
    return None


def capture_allowed(policy: Policy, when: float, address: str | None = None) -> bool:
    """Whether the window open at `when` lets the screen be captured at all."""
    window = window_at(policy, when, address)
    return window is not None and window.capture


def _open(rules: PolicyRules, window: Window, local: datetime) -> bool:
    start, end, now = _clock(window.start), _clock(window.end), local.time()
    today = local.date()
    if start < end:
        return start <= now < end and _starts_on(rules, window, today)
    # Past midnight (or the whole day when equal): open from start today, or until
    # end on the morning after a day it started.
    if now >= start and _starts_on(rules, window, today):
        return True
    return now < end and _starts_on(rules, window, today - timedelta(days=1))


def _starts_on(rules: PolicyRules, window: Window, day: date) -> bool:
    if day.weekday() not in window.days:
        return False
    if window.on == "any_day":
        return True
    return is_school_day(rules, day) == (window.on == "school_days")


def is_school_day(rules: PolicyRules, day: date) -> bool:
    """A day of the school week, in a term (any day, if no terms are listed), not a holiday."""
    if day.weekday() not in rules.school_week:
        return False
    if rules.terms and not any(term.holds(day) for term in rules.terms):
        return False
    return not any(holiday.holds(day) for holiday in rules.holidays)


def _at_school(rules: PolicyRules, address: str | None) -> bool:
    if address is None or not rules.school_networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(r, strict=False) for r in rules.school_networks)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class Allowed(msgspec.Struct, frozen=True):
    window: str

    @property
    def allowed(self) -> bool:
        return True


class Refused(msgspec.Struct, frozen=True):
    """Not allowed now; `reason` is a sentence naming the window, for the person refused."""

    window: str
    reason: str

    @property
    def allowed(self) -> bool:
        return False


Decision = Allowed | Refused


def without_policy(group: str, role: Role) -> Refused | None:
    """A group with no policy has no home window: guardians may do nothing there."""
    if role is not Role.GUARDIAN:
        return None
    return Refused(
        OUTSIDE_NAME,
        f"{group or 'This group'} has no policy, so no window is open to guardians; "
        "ask the school to set one.",
    )


def decide(
    policy: Policy, role: Role, action: str, when: float, address: str | None = None
) -> Decision:
    """May `role` do `action` at `when`? The answer names the window that decided."""
    window = window_at(policy, when, address)
    if action in ALWAYS_ALLOWED:
        return Allowed(window.name if window is not None else OUTSIDE_NAME)
    if window is None:
        return Refused(
            OUTSIDE_NAME,
            f"No policy window of {policy.group or 'this group'} is open now, so nobody may "
            f"{action}; wait for a window that allows it.",
        )
    if action in CAPTURE_ACTIONS and not window.capture:
        return Refused(
            window.name,
            f"The {window.name} window allows no screen capture, so nobody may {action} now.",
        )
    if not window.grants(role, action):
        return Refused(
            window.name,
            f"The {window.name} window does not let a {role.value} {action}; "
            "wait for a window that allows it, or ask an admin.",
        )
    return Allowed(window.name)


def describe_window(window: Window | None) -> str:
    """The window in force, in words a student reads: its name, whether the screen may be
    seen, and who may do what (the "what applies now" panel)."""
    if window is None:
        return "outside every window of the school's policy: nobody may see or steer this device"
    seen = "your screen may be seen" if window.capture else "nobody may see your screen"
    grants = "; ".join(
        f"{grant.role.value}: "
        + ("anything" if ALL_ACTIONS in grant.actions else ", ".join(grant.actions))
        for grant in window.allow
    )
    told = f" {window.start}-{window.end}" if window.start != window.end else ""
    return f"{window.name}{told}: {seen}; " + (grants or "nobody may steer this device")
