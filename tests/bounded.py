"""Run `python -m components ...` in a child with a deadline, an address-space cap and its own peak RSS.

The generous bounds of the hostile-input tests (a hang or a memory blow-up fails the test, not the
machine) need the CLI's own peak memory. Measured from the test process it would be wrong: Linux
counts in a child's `ru_maxrss` the pages it had before exec, and a forked or vforked child has the
(large) test process's. So a small launcher starts the CLI and reads the CLI's `wait4` usage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDRESS_SPACE_LIMIT = 2 * 1024**3

_LAUNCHER = """
import os, resource, subprocess, sys
limit = int(os.environ["BOUNDED_AS"])
cli = subprocess.Popen(
    [sys.executable, "-m", "components", *sys.argv[2:]],
    preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
)
_, status, usage = os.wait4(cli.pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, deadline_s: float, cwd: Path = ROOT, env: Mapping[str, str] | None = None) -> Outcome:
    """`python -m components ARGS`, killed (with anything it started) after `deadline_s`."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile() as rss,
    ):
        child = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, rss.name, *args],
            cwd=cwd,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**(env if env is not None else os.environ), "BOUNDED_AS": str(ADDRESS_SPACE_LIMIT)},
            start_new_session=True,
        )
        timer = threading.Timer(deadline_s, os.killpg, (child.pid, signal.SIGKILL))
        timer.start()
        try:
            child.wait()
        finally:
            timer.cancel()
        out.seek(0)
        err.seek(0)
        peak_kib = Path(rss.name).read_text() or "0"
        outcome = Outcome(
            child.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            int(peak_kib) / 1024,  # ru_maxrss is in KiB on Linux
        )
    assert outcome.returncode != -signal.SIGKILL, (
        f"still running after {deadline_s} s: {outcome.output[-2000:]}"
    )
    return outcome
