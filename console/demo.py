"""`homeroom-console --demo`: an embedded hub on loopback with simulated students."""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PIL import Image, ImageDraw

from agent.desktop import LOCK_BACKGROUND, HeadlessDesktop
from agent.enrollment import enroll
from agent.platforms import ActivitySample, ActivityWatcher, Platform, current
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from hub.admin import add_staff, create_token
from hub.keyring import Keyring, init_hub, install_certificate
from hub.server import Hub
from hub.store import Store
from protocol.certificates import Role
from protocol.credentials import StaffCredential
from protocol.keys import PrivateKey
from protocol.requests import CertificateRequest, Requester, make_request

from .hub_link import HubConnection
from .organisation.folder import STAFF_CERT_LIFETIME, Organisation

if TYPE_CHECKING:
    from .app import ClassroomApp

DEMO_GROUP = "Demo class"
#: Two classes share the demo's students, half each, so switching class shows something.
DEMO_CLASSES = ("Maths 7B", "Science 7B")
STUDENTS = (
    "Ada",
    "Bilal",
    "Chloé",
    "Dmitri",
    "Esi",
    "Farah",
    "Gustav",
    "Hana",
    "Iker",
    "Jia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Oskar",
    "Priya",
    "Quinn",
    "Rafael",
    "Saoirse",
    "Tariq",
)


class SimulatedStudentScreen:
    """A synthetic desktop that shows the lock overlay while its desktop is locked.

    A real agent's screen shows the Tk overlay; a simulated one has no windows,
    so it paints the same overlay colour itself and the teacher sees the lock.
    """

    def __init__(self, name: str, seed: int, desktop: HeadlessDesktop) -> None:
        self._screen = SyntheticScreen(name, seed=seed, size=(960, 600))
        self._desktop = desktop

    @property
    def size(self) -> tuple[int, int]:
        return self._screen.size

    def grab(self) -> Image.Image:
        if not self._desktop.locked:
            return self._screen.grab()
        image = Image.new("RGB", self._screen.size, LOCK_BACKGROUND)
        draw = ImageDraw.Draw(image)
        width, height = image.size
        draw.rectangle(
            (width // 2 - 60, height // 2 - 40, width // 2 + 60, height // 2 + 60),
            outline="white",
            width=8,
        )
        draw.text(
            (width // 2 - 80, height // 2 + 90),
            self._desktop.lock_message or "Locked",
            fill="white",
        )
        return image

    def close(self) -> None:
        self._screen.close()


#: What simulated students switch between: (application, window title).
DEMO_ACTIVITIES = (
    ("firefox", "Fractions worksheet — Mozilla Firefox"),
    ("libreoffice", "Essay draft.odt — LibreOffice Writer"),
    ("scratch", "Maze game — Scratch 3"),
    ("geogebra", "Triangles — GeoGebra Classic"),
    ("firefox", "Volcanoes - Wikipedia — Mozilla Firefox"),
    ("gedit", "notes.txt — gedit"),
    ("firefox", "Funny cats compilation — YouTube — Mozilla Firefox"),
)


class SimulatedActivity:
    """A student switching windows now and then, and sometimes leaving the keyboard.

    Runs on its own thread, as a real display server's watcher does.
    """

    def __init__(
        self,
        report: Callable[[ActivitySample], None],
        seed: int,
        *,
        activities: tuple[tuple[str, str], ...] = DEMO_ACTIVITIES,
        mean_seconds: float = 20.0,
    ) -> None:
        self._report = report
        self._random = random.Random(seed)
        self._activities = activities
        self._mean = mean_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-activity", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pick = self._random.choice
        self._report(ActivitySample(*pick(self._activities)))
        while not self._stopped.wait(self._random.expovariate(1 / self._mean)):
            if self._random.random() < 0.15:
                app, title = pick(self._activities)
                self._report(ActivitySample(app, title, idle_seconds=self._random.randint(90, 600)))
            else:
                self._report(ActivitySample(*pick(self._activities)))

    def stop(self) -> None:
        self._stopped.set()


class DemoPlatform:
    """This machine's platform, with the students' activity simulated."""

    def __init__(self, seed: int, activities: tuple[tuple[str, str], ...]) -> None:
        self._real = current()
        self._seed = seed
        self._activities = activities

    def watch_activity(
        self, report: Callable[[ActivitySample], None], idle_after: float
    ) -> ActivityWatcher | None:
        return SimulatedActivity(report, self._seed, activities=self._activities)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def demo_platform(seed: int, activities: tuple[tuple[str, str], ...] = DEMO_ACTIVITIES) -> Platform:
    """A Platform for a simulated student (everything real but the activity)."""
    return cast(Platform, DemoPlatform(seed, activities))


def set_up_school(folder: Path, *, hub_url: str, names: list[str]) -> tuple[Organisation, Keyring]:
    """The documented set-up on one machine: an organisation in `folder/org` (unsealed, a
    throwaway), a hub in `folder/hub` that it certifies. The two folders stay apart, so the
    hub's folder holds no key that certifies anyone, as on a real school's hub."""
    org = Organisation.create(folder / "org", passphrase=None)
    request = init_hub(folder / "hub", hub_url=hub_url, names=names)
    grant = org.certify_hub(CertificateRequest.decode(request.read_bytes()))
    return org, install_certificate(folder / "hub", grant)


def certified_staff(
    org: Organisation,
    keyring: Keyring,
    store: Store,
    *,
    name: str,
    role: Role,
    groups: tuple[str, ...],
    now: int,
    lifetime: int = STAFF_CERT_LIFETIME,
    hub_url: str | None = None,
    devices: tuple[str, ...] = (),
) -> StaffCredential:
    """A staff member's credential as the documented steps make it: their key (made here, as
    on their machine), the organisation's certificate, recorded by the hub. A guardian's
    names their own children's `devices` (ids)."""
    key = PrivateKey.generate()
    certificate = org.certify_staff(
        make_request(key, Requester.STAFF, name),
        role=role,
        groups=groups,
        devices=devices,
        now=now,
        lifetime=lifetime,
    )
    card = add_staff(keyring, store, certificate, now=now, hub_url=hub_url)
    return StaffCredential(
        hub_url=card.hub_url,
        hub=card.hub,
        org=card.org,
        certificate=card.certificate,
        private_key=key.to_bytes(),
    )


@dataclass
class DemoClassroom:
    url: str
    teacher: StaffCredential
    hub: Hub
    agents: list[Agent] = field(default_factory=list)


@contextlib.asynccontextmanager
async def demo_classroom(students: int, folder: Path | None = None) -> AsyncIterator[DemoClassroom]:
    """A hub on 127.0.0.1 (TLS, any free port) and `students` enrolled, running agents."""
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="homeroom-demo-")))
        org, keyring = set_up_school(folder, hub_url="wss://127.0.0.1:1", names=["127.0.0.1"])
        store = stack.enter_context(Store.open(keyring.store_path))
        hub = Hub(keyring, store)
        async with hub.serve("127.0.0.1", 0, tls=True) as server:
            url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            now = int(time.time())
            token = create_token(
                keyring, store, group=DEMO_GROUP, uses=students, lifetime=600, now=now, hub_url=url
            ).encode()
            teacher = certified_staff(
                org,
                keyring,
                store,
                name="Demo Teacher",
                # An admin of the demo's group only: the grid's actions, class sessions
                # (teachers and admins) and the IT desk (IT and admins) all work, and the
                # audit view shows its own rows (everything is for school-wide staff).
                role=Role.ADMIN,
                groups=(DEMO_GROUP,),
                now=now - 60,
                hub_url=url,
            )
            room = DemoClassroom(url, teacher, hub)
            tasks = []
            for number in range(students):
                name = STUDENTS[number % len(STUDENTS)]
                if number >= len(STUDENTS):
                    name += f" {number // len(STUDENTS) + 1}"
                state_folder = folder / "students" / f"{number:03d}"
                state = await enroll(token, name, state_folder)
                desktop = HeadlessDesktop()
                agent = Agent(
                    state,
                    screen=SimulatedStudentScreen(name, number, desktop),
                    desktop=desktop,
                    folder=state_folder,
                    user=name.lower(),  # the signed-in student, as a real device reports
                    platform=demo_platform(number),
                    watch_activity=True,
                )
                room.agents.append(agent)
                tasks.append(asyncio.create_task(agent.run()))
            for index, class_name in enumerate(DEMO_CLASSES):
                store.create_class(class_name, DEMO_GROUP, now)
                half = room.agents[
                    index * len(room.agents) // 2 : (index + 1) * len(room.agents) // 2
                ]
                for agent in half:
                    store.add_to_class(class_name, agent.state.device_id)
            try:
                yield room
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


class DemoLink(HubConnection):
    """A HubConnection that first starts the embedded hub and its simulated students."""

    def __init__(self, students: int) -> None:
        super().__init__(None)  # the credential is made once the demo hub exists
        self.students = students
        self.room: DemoClassroom | None = None

    async def run(self, app: ClassroomApp) -> None:
        app.hub_status(f"Starting a demo hub with {self.students} simulated students…", False)
        async with demo_classroom(self.students) as room:
            self.room = room
            self.credential, self.url = room.teacher, room.url
            await super().run(app)
