"""Stopping a warm cleanly when asked to: SIGTERM as SIGINT.

CI cancellation, job deadlines and Kubernetes stop a process with SIGTERM, and a person with
Ctrl-C (SIGINT). Either way the warm stops starting work, cancels its requests in flight, and
returns, so its caller records what finished and reports it (exit 128 + the signal's number, as
shells report a command a signal stopped: 130 for SIGINT, 143 for SIGTERM). A second signal
while that happens is ignored: the record takes a moment, and losing it is what the first
signal's handling prevents.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(stopped_by: signal.Signals) -> int:
    return 128 + int(stopped_by)


async def until_stopped(work: Coroutine[Any, Any, T]) -> tuple[T | None, signal.Signals | None]:
    """Run `work` to its end, `(result, None)`; or cancel it on SIGINT or SIGTERM, `(None, signal)`.

    Signal handlers can only be set from the main thread; elsewhere (a thread of the Pulumi
    provider, say) `work` just runs.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    if threading.current_thread() is not threading.main_thread():
        return await task, None
    received: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        if not received:
            received.append(signum)
            task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await task, None
    except asyncio.CancelledError:
        if not received:
            raise
        return None, received[0]
    finally:
        for signum in STOP_SIGNALS:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
            if received:  # the caller now records what finished: see the module's docstring
                signal.signal(signum, signal.SIG_IGN)
