"""The store's thread: every blocking store call runs there, never on the event loop.

A slow or stalled disk (a backup holding the file, a full journal, a dying drive) then
delays only what needs the store; frames, keepalives and everything already decided go
on. One thread, first come first served: the store serialises its calls anyway, and the
order in which the hub asked is the order in which things are written.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StoreThread:
    """Runs blocking calls on one thread of its own; `await thread.run(store.x, ...)`."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-store")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(call, *args, **kwargs))

    def close(self) -> None:
        """Wait for what was asked already (so it is written), then stop the thread.

        A later `run` starts a new thread (a hub served again after a restart).
        """
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
