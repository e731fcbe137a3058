"""A blob's body, read for as long as it keeps arriving: the progress limits of `limits.Limits`.

Two rules end an attempt, each checked at the moment it can first be true, not when the next
byte happens to arrive:
- the stall: no byte for `stall_timeout` seconds (a connection that went silent);
- the speed floor: fewer than `min_speed` bytes a second, on average, over a `speed_window`
  (curl's `--speed-limit`/`--speed-time`, https://curl.se/docs/manpage.html#-Y): a connection
  that still trickles a byte now and then, which the stall alone would keep alive.
A slow but steady body, however long it takes, breaks neither. Only the time spent waiting in
`read` counts: while the caller is busy elsewhere with what it read (pushing it on, for a copy),
the sender is held back by the connection's flow control, and is not to blame.
"""

from __future__ import annotations

import asyncio

import aiohttp

from components.warm.errors import TransferStalled
from components.warm.limits import Limits


class BodyProgress:
    """Reads one body's chunks and ends the attempt, with `TransferStalled`, when it stops progressing."""

    def __init__(self, limits: Limits, what: str) -> None:
        self._limits = limits
        self._what = what
        self._loop = asyncio.get_running_loop()
        now = self._loop.time()
        self._last_byte = now
        self._window_start = now
        self._window_bytes = 0
        self._returned_at: float | None = None
        self.received = 0

    async def read(self, content: aiohttp.StreamReader, size: int) -> bytes:
        """Up to `size` bytes, as soon as any arrive; `b""` at the end of the body."""
        if self._returned_at is not None:  # the caller's time since the last read is not the sender's
            away = self._loop.time() - self._returned_at
            self._last_byte += away
            self._window_start += away
        if chunk := content.read_nowait(size):  # already here: no wait, so no timer to set
            return self._arrived(chunk)
        while True:
            now = self._loop.time()
            self._check(now)
            next_check = min(
                self._last_byte + self._limits.stall_timeout,
                self._window_start + self._limits.speed_window,
            )
            try:
                async with asyncio.timeout(next_check - now):
                    chunk = await content.read(size)
            except TimeoutError:
                continue  # a check is due: the top of the loop makes it
            return self._arrived(chunk)

    def _arrived(self, chunk: bytes) -> bytes:
        self._returned_at = self._loop.time()
        if chunk:
            self._last_byte = self._returned_at
            self._window_bytes += len(chunk)
            self.received += len(chunk)
        return chunk

    def _check(self, now: float) -> None:
        limits = self._limits
        if now - self._last_byte >= limits.stall_timeout:
            raise TransferStalled(
                f"{self._what}: no byte for {limits.stall_timeout:g} s, after {self.received} bytes"
            )
        if now - self._window_start < limits.speed_window:
            return
        if self._window_bytes < limits.min_speed * limits.speed_window:
            raise TransferStalled(
                f"{self._what}: {self._window_bytes} bytes in {limits.speed_window:g} s, below the floor of "
                f"{limits.min_speed} bytes a second, after {self.received} bytes"
            )
        self._window_start, self._window_bytes = now, 0
