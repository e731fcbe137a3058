"""The warm against a registry that misbehaves on purpose (issue 8's network cases), through the CLI.

Each case warms the hostile image next to a good one, in a subprocess, and checks: the exit code,
that the run ends well within a generous bound, that the hostile image fails alone with its
reason while the good one is warmed and locked, that no secret is printed, where Authorization
headers went, and that the process stayed under 300 MB.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from standins.hostile_registry import BASIC_LOGIN, CACHE_PASSWORD, HostileRegistry, hostile_registry
from tests.bounded import run_cli

ROOT = Path(__file__).resolve().parents[2]
BOUND_SECONDS = 60
MAX_RSS_MB = 300
PASSWORD = CACHE_PASSWORD
DIGEST = r"sha256:[0-9a-f]{64}"
FAILS = {
    "endless-blob": r"blob .* is longer than the 1000 bytes its manifest declares",
    "trickle-blob": r"blob sha256:[0-9a-f]{64} of trickle-blob/app: no byte for 2 s, after 1 bytes",
    "stall-blob": r"blob sha256:[0-9a-f]{64} of stall-blob/app: no byte for 2 s, after 500 bytes",
    "slowloris": r"GET .*/v2/slowloris/app/manifests/v1: no complete answer within 2 s",
    "retry-huge": r"429, and the upstream asked to wait 999999 s; the warm waits at most 60 s",
    "retry-inf": r"429, and the upstream asked to wait forever",
    "endless-manifest": r"manifest from .*/v2/endless-manifest/app/manifests/v1 is longer than the 4194304 bytes",
    "huge-manifest": r"manifest from .* is 76000000 bytes, more than the 4194304 bytes allowed",
    "endless-token": r"the token service http://127\.0\.0\.1:\d+/endless-token is longer than the 1048576 bytes",
    "redirect-401": r"the redirect target http://127\.0\.0\.1:\d+/s3/layer refused the request \(401\)",
    "traversal": r"manifest from .* is malformed: layers\.0\.digest: 'sha256:\.\./\.\./\.\./\.\./x' is not a sha256",
    "layers-string": r"manifest from http://127\.0\.0\.1:\d+/v2/layers-string/app/manifests/v1 is malformed: "
    r"layers: should be a list, not a string",
    "big-index": r"lists 20000 manifests; the warm follows at most 256",
    "mismatch": rf"does not match its digest: expected {DIGEST}, computed {DIGEST}",
    "bad-json": r"manifest from .*/v2/bad-json/app/manifests/v1 is malformed: not JSON \(Expecting value\)",
    "deep-json": r"manifest from .*/v2/deep-json/app/manifests/v1 is malformed: not JSON \(nested too deeply\)",
    "long-number": r"manifest from .*/v2/long-number/app/manifests/v1 is malformed: not JSON \(a number of more than "
    r"4300 digits\)",
}


@pytest.fixture(scope="module")
def registry() -> Iterator[HostileRegistry]:
    with hostile_registry() as running:
        yield running


QUICK = ("--timeout", "2", "--stall-timeout", "2", "--attempts", "1")


def warm(
    registry: HostileRegistry,
    work: Path,
    *cases: str,
    mirror: str | None = None,
    limits: tuple[str, ...] = QUICK,
) -> tuple[int, str, float]:
    """Run `warm` over the cases' images; the exit code, everything printed, and the seconds taken.

    `limits` are the options that bound each request: tight ones by default, so each case ends fast."""
    catalogue = work / "images.yaml"
    catalogue.write_text("".join(f"- hostile.example/{case}/app:v1\n" for case in cases))
    env = {**os.environ, "REGISTRY_USERNAME": "AWS", "REGISTRY_PASSWORD": PASSWORD}
    command = [
        "warm", "--images", str(catalogue),
        "--mirror", f"hostile.example={mirror or registry.url}", "--plain-http",
        *limits, "--state", str(work / "state.yaml"),
    ]  # fmt: skip
    started = time.monotonic()
    done = run_cli(*command, deadline_s=BOUND_SECONDS * 2, env=env)
    seconds = time.monotonic() - started
    output = done.output
    assert done.max_rss_mb < MAX_RSS_MB, f"the warm used {done.max_rss_mb:.0f} MB"
    assert PASSWORD not in output
    return done.returncode, output, seconds


@pytest.mark.parametrize("case", sorted(FAILS))
def test_a_hostile_image_fails_alone_with_its_reason(
    registry: HostileRegistry, tmp_path: Path, case: str
) -> None:
    before = len(registry.seen)
    code, output, seconds = warm(registry, tmp_path, case, "good")
    assert code == 1, output
    assert seconds < BOUND_SECONDS
    assert re.search(rf"FAILED  hostile\.example/{case}/app:v1: .*{FAILS[case]}", output), output
    assert re.search(r"ok      hostile\.example/good/app:v1 sha256:", output), output
    assert "warmed 1 of 2 images" in output
    lock = yaml.safe_load((tmp_path / "state.yaml").read_text())
    assert list(lock) == ["hostile.example/good/app:v1"], "the lock is written for the rest"
    seen = registry.seen[before:]
    assert not [s for s in seen if s.authorization and s.origin == "elsewhere"]
    if case == "endless-token":  # its realm is on the registry's own origin: the login may go there
        assert {s.path.split("?")[0] for s in seen if s.authorization} == {"/endless-token"}
    else:
        assert not [s for s in seen if s.authorization], "no login was asked for, so none was sent"
    if case == "traversal":
        assert not [s for s in seen if ".." in s.path or s.path.endswith("/x")]
    if case == "redirect-401":
        assert "redirect-secret" not in output and "SIGNED-SECRET" not in output
        assert [s for s in seen if s.origin == "elsewhere" and s.path.startswith("/s3/")]
        assert not [s for s in seen if s.origin == "elsewhere" and s.path.startswith("/token")]


def test_at_the_default_limits_a_stalled_or_trickling_layer_fails_well_within_two_minutes(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    """No option given: each attempt ends at the 30 s stall or speed-floor check, and is tried once more."""
    code, output, seconds = warm(registry, tmp_path, "trickle-blob", "stall-blob", "good", limits=())
    assert code == 1, output
    assert seconds < 90, f"{seconds:.0f} s"
    floor = r"\d+ bytes in 30 s, below the floor of 1024 bytes a second"
    for case in ("trickle-blob", "stall-blob"):
        assert re.search(
            rf"FAILED  hostile\.example/{case}/app:v1: blob .*: ({floor}|no byte for 30 s)", output
        )
    assert re.search(r"ok      hostile\.example/good/app:v1 sha256:", output), output
    assert "warmed 1 of 3 images" in output


def test_a_realm_on_another_origin_gets_no_login(registry: HostileRegistry, tmp_path: Path) -> None:
    before = len(registry.seen)
    code, output, _ = warm(registry, tmp_path, "cross-realm")
    assert code == 0, output
    seen = registry.seen[before:]
    token_requests = [s for s in seen if s.origin == "elsewhere"]
    assert token_requests and all(s.authorization is None for s in token_requests), "asked anonymously"
    assert {s.authorization for s in seen if s.origin == "registry" and s.authorization} == {
        "Bearer elsewhere-token"
    }


def test_the_cache_login_from_the_environment_goes_to_the_cache_only(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    before = len(registry.seen)
    code, output, _ = warm(registry, tmp_path, "basic-login")
    assert code == 0, output
    seen = registry.seen[before:]
    assert {(s.origin, s.authorization) for s in seen if s.authorization} == {("registry", BASIC_LOGIN)}


def test_a_login_in_the_mirror_url_is_refused_and_not_echoed(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    before = len(registry.seen)
    mirror = registry.url.replace("http://", "http://AWS:mirror-secret@")
    code, output, _ = warm(registry, tmp_path, "good", mirror=mirror)
    assert code == 2, output
    assert "carries a user name or password" in output and "mirror-secret" not in output
    assert len(registry.seen) == before, "nothing was sent"
