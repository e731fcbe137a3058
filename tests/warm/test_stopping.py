"""`warm.stopping`: SIGTERM stops a warm as SIGINT does, and a second signal is ignored."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from components.warm.stopping import exit_code, until_stopped


@pytest.fixture
def restored_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_cancels_the_work_and_says_which(restored_handlers: None, signum: signal.Signals) -> None:
    cancelled = []

    async def work() -> str:
        try:
            asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signum)
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "finished"

    result, stopped_by = asyncio.run(until_stopped(work()))
    assert (result, stopped_by, cancelled) == (None, signum, [True])
    assert exit_code(signum) == 128 + signum
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN, (
        "a second signal is ignored while what finished is recorded"
    )
    os.kill(os.getpid(), signal.SIGTERM)  # ignored: the test goes on


def test_work_that_ends_returns_its_result(restored_handlers: None) -> None:
    async def work() -> str:
        return "finished"

    assert asyncio.run(until_stopped(work())) == ("finished", None)
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
