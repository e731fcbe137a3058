"""The progress limits of a blob's body (`warm.progress`), against bodies fed at chosen times."""

from __future__ import annotations

import asyncio
import collections
import time

import pytest

from components.warm.errors import TransferStalled
from components.warm.limits import Limits
from components.warm.progress import BodyProgress

LIMITS = Limits(stall_timeout=0.4, speed_window=0.6, min_speed=100)


class Feed:
    """What `BodyProgress` reads from, as aiohttp's StreamReader does: chunks as they arrive, what is
    here already without waiting (`read_nowait`), `b""` at the end, nothing lost when a read is cancelled."""

    def __init__(self, chunks: list[tuple[float, bytes]]) -> None:
        self._ready: collections.deque[bytes] = collections.deque()
        self._ended = False
        self._arrived = asyncio.Event()
        self._producer = asyncio.ensure_future(self._produce(chunks))

    async def _produce(self, chunks: list[tuple[float, bytes]]) -> None:
        for delay, data in chunks:
            await asyncio.sleep(delay)
            self._ready.append(data)
            self._arrived.set()
        self._ended = True
        self._arrived.set()

    def read_nowait(self, size: int) -> bytes:
        return self._ready.popleft() if self._ready else b""

    async def read(self, size: int) -> bytes:
        while not self._ready and not self._ended:
            self._arrived.clear()
            await self._arrived.wait()
        return self.read_nowait(size)


def read_all(chunks: list[tuple[float, bytes]], limits: Limits = LIMITS) -> tuple[int, float]:
    """The bytes read and the seconds it took; TransferStalled when the limits end it."""

    async def go() -> int:
        feed = Feed(chunks)
        progress = BodyProgress(limits, "blob sha256:x of a/b")
        total = 0
        while chunk := await progress.read(feed, 65536):  # type: ignore[arg-type]
            total += len(chunk)
        return total

    started = time.monotonic()
    return asyncio.run(go()), time.monotonic() - started


def test_a_slow_steady_body_is_read_to_its_end_however_long_it_takes() -> None:
    # 150 bytes a second for 2.5 s: four times the stall limit, above the floor throughout.
    total, took = read_all([(0.1, b"x" * 15)] * 25)
    assert total == 375 and took > 2 * LIMITS.stall_timeout


def test_a_body_that_goes_silent_ends_at_the_stall_limit() -> None:
    started = time.monotonic()
    with pytest.raises(TransferStalled, match=r"^blob sha256:x of a/b: no byte for 0.4 s, after 200 bytes$"):
        read_all([(0.0, b"x" * 200), (30, b"never")])
    assert time.monotonic() - started < 1.0, "ended at the check, not at the next byte"


def test_a_body_that_trickles_ends_at_the_speed_floor() -> None:
    """A byte every 0.3 s keeps the stall limit (0.4 s) away, but is below 100 bytes a second."""
    started = time.monotonic()
    with pytest.raises(TransferStalled, match=r"bytes in 0.6 s, below the floor of 100 bytes a second"):
        read_all([(0.3, b"x")] * 20)
    assert time.monotonic() - started < 1.2


def test_no_floor_with_min_speed_0() -> None:
    total, _ = read_all([(0.3, b"x")] * 4, Limits(stall_timeout=0.4, speed_window=0.6, min_speed=0))
    assert total == 4
