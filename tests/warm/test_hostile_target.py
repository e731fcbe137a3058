"""Copies into a target that misbehaves on purpose (issue 21's hostile targets), through the CLI.

The upstream is the hostile registry's own well-formed image (`<case>/app:v1`, read anonymously);
the target is its push side under `/v2/copies/` (`standins/hostile_target.py`), which wants a Basic
login, as ECR does. Each case copies beside a good one: the bad one fails alone, with its reason;
the login goes to the target's own origin only, never to the upstream's paths or the other origin.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from standins.hostile_registry import BASIC_LOGIN, CACHE_PASSWORD, HostileRegistry, hostile_registry
from tests.bounded import run_cli

FAILS = {
    "patch-500": r"PATCH http://127\.0\.0\.1:\d+/v2/copies/patch-500/app/blobs/uploads/\w+: 500",
    "no-location": r"the upload of blob sha256:[0-9a-f]{64} to copies/no-location/app: the registry answered 202 "
    r"without an upload location",
    "elsewhere-location": r"refused the upload location http://127\.0\.0\.1:\d+/upload/\w+, on another origin than "
    r"http://127\.0\.0\.1:\d+: the registry's login goes nowhere else",
    "other-digest": r"manifest copies/other-digest/app:v1: the registry named it sha256:0{64}, not sha256:[0-9a-f]{64}",
}


@pytest.fixture(scope="module")
def registry() -> Iterator[HostileRegistry]:
    with hostile_registry() as running:
        yield running


def copy(registry: HostileRegistry, work: Path, *cases: str) -> tuple[int, str]:
    catalogue = work / "images.yaml"
    catalogue.write_text("".join(f"- hostile.example/{case}/app:v1\n" for case in cases))
    env = {**os.environ, "REGISTRY_USERNAME": "AWS", "REGISTRY_PASSWORD": CACHE_PASSWORD}
    command = [
        "warm", "--images", str(catalogue), "--copy", f"hostile.example={registry.url}/copies",
        "--upstream", f"hostile.example={registry.url}", "--plain-http",
        "--timeout", "2", "--stall-timeout", "2", "--attempts", "2", "--retry-wait", "0.05",
    ]  # fmt: skip
    done = run_cli(*command, deadline_s=120, env=env)
    assert CACHE_PASSWORD not in done.output
    return done.returncode, done.output


@pytest.mark.parametrize("case", sorted(FAILS))
def test_a_hostile_target_fails_its_image_alone_with_its_reason(
    registry: HostileRegistry, tmp_path: Path, case: str
) -> None:
    before = len(registry.seen)
    code, output = copy(registry, tmp_path, case, "good")
    assert code == 1, output
    assert re.search(rf"FAILED  hostile\.example/{case}/app:v1: .*{FAILS[case]}", output), output
    assert re.search(r"ok      hostile\.example/good/app:v1 sha256:[0-9a-f]{64} ", output), output
    seen = registry.seen[before:]
    logins = {(s.origin, s.path.startswith("/v2/copies/")) for s in seen if s.authorization}
    assert logins == {("registry", True)}, "the target's login went to the target's paths only"
    assert {s.authorization for s in seen if s.authorization} == {BASIC_LOGIN}
    if case == "elsewhere-location":
        assert not [s for s in seen if s.origin == "elsewhere"], "nothing was sent to the other origin"


def test_a_good_target_takes_the_copy_and_a_second_run_pushes_nothing(tmp_path: Path) -> None:
    with hostile_registry() as registry:  # a target of its own: the module's one holds copies already
        code, output = copy(registry, tmp_path, "good")
        assert code == 0, output
        assert re.search(
            r"ok      hostile\.example/good/app:v1 sha256:[0-9a-f]{64} .* copied: 2 blobs, 2 uploaded", output
        )
        before = len(registry.seen)
        code, output = copy(registry, tmp_path, "good")
        assert code == 0 and "(the copy is up to date)" in output, output
        assert not [s for s in registry.seen[before:] if s.method in ("POST", "PATCH", "PUT")]
