"""Full garbage collections at moments the hub chooses (hub/heap.py), on the real collector."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.heap import SteadyHeap

from ..classroom import classroom
from ..support import scaled
from .peers import agent_session


class Cycle:
    """Garbage only the cyclic collector can free: it refers to itself."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    """Whatever a test froze goes back to the collector, for the tests after it."""
    yield
    gc.unfreeze()


def dropped_cycle() -> weakref.ref[Cycle]:
    cycle = Cycle()
    return weakref.ref(cycle)


def test_a_frozen_heap_is_left_alone_by_collections() -> None:
    heap = SteadyHeap()
    lost = dropped_cycle()
    assert heap.settle(connected=5000) is False  # nothing due: only frozen
    assert gc.get_freeze_count() > 0
    gc.collect()  # what a full collection would find, it does not look at
    assert lost() is not None


def test_enough_departures_make_the_next_round_collect_everything() -> None:
    heap = SteadyHeap(departures_share=0.1, min_departures=100)
    lost = dropped_cycle()
    heap.settle(connected=2000)
    for _ in range(199):
        heap.departed()
    assert heap.settle(connected=2000) is False  # 199 < a tenth of 2,000
    assert lost() is not None
    heap.departed()
    assert heap.settle(connected=2000) is True
    assert lost() is None  # the frozen garbage was freed
    assert heap.full_collections == 1
    assert gc.get_freeze_count() > 0  # and what is alive is frozen again
    assert heap.settle(connected=2000) is False  # the count starts over


def test_a_few_departures_wait_for_the_minimum() -> None:
    heap = SteadyHeap(departures_share=0.1, min_departures=100)
    for _ in range(99):
        heap.departed()
    assert heap.settle(connected=10) is False
    heap.departed()
    assert heap.settle(connected=10) is True


def test_a_full_collection_is_made_at_least_every_so_often() -> None:
    now = [0.0]
    heap = SteadyHeap(full_every=1800.0, clock=lambda: now[0])
    lost = dropped_cycle()
    heap.settle(connected=5000)
    now[0] = 1799.0
    assert heap.settle(connected=5000) is False
    now[0] = 1800.0
    assert heap.settle(connected=5000) is True
    assert lost() is None


def test_release_gives_everything_back_to_the_collector() -> None:
    heap = SteadyHeap()
    lost = dropped_cycle()
    heap.settle(connected=1)
    heap.release()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert lost() is None


async def test_the_hub_counts_departures_and_settles_each_round(tmp_path: Path) -> None:
    heap = SteadyHeap(min_departures=1, departures_share=0.0)
    async with classroom(tmp_path, housekeeping_seconds=0.01, heap=heap) as room:
        _, ws = await agent_session(room, "Ada's laptop")
        await room.until(lambda: len(room.hub.agents) == 1)
        await ws.close()
        await room.until(lambda: not room.hub.agents)
        async with asyncio.timeout(scaled(10)):
            while heap.full_collections == 0:  # the next housekeeping round
                await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # a hub that stopped leaves nothing frozen
