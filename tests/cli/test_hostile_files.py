"""Malformed and hostile files, through the real CLI: exit 2, the file and line, a fix, no traceback.

Each run is bounded: it must end within `DEADLINE_S` and peak under `MAX_RSS_MB` of memory
(generous bounds that catch a hang or a blow-up, not performance targets). The child also
runs under an address-space limit, so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from components.cli.mirrors import parse_mirror
from components.cli.warm import load_settings
from components.cli.warm_stack import routes_from_stack
from components.errors import InputError
from components.safe_yaml import MAX_CATALOGUE_BYTES, MAX_LOCK_BYTES, MAX_STACK_FILE_BYTES
from tests.bounded import Outcome, run_cli

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 60
MAX_RSS_MB = 300

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\xff\xfe\xfd" * 40
DEEP = "[" * 50_000 + "]" * 50_000


def billion_laughs(levels: int = 9) -> str:
    """~600 bytes that expand to 9**9 strings: each level lists the previous one nine times."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def catalogue_laughs(levels: int = 9) -> str:
    """The same bomb as catalogue entries, each level's tags listing the previous level's nine times."""
    entries = ["- image: docker.io/x/a0\n  tags: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    for level in range(1, levels):
        tags = ", ".join([f"*a{level - 1}"] * 9)
        entries.append(f"- image: docker.io/x/a{level}\n  tags: &a{level} [{tags}]")
    return "\n".join(entries) + "\n"


def run_bounded(*args: str, cwd: Path = ROOT) -> Outcome:
    """`python -m components ARGS`, killed after DEADLINE_S; the CLI's own peak RSS."""
    return run_cli(*args, deadline_s=DEADLINE_S, cwd=cwd)


def assert_refused(outcome: Outcome, where: str) -> None:
    """Exit 2, `where` (file, or file:line) in the message, a fix hint, no traceback, bounded memory."""
    assert outcome.returncode == 2, outcome.output
    assert f"{where}:" in outcome.stderr, outcome.stderr
    assert "fix:" in outcome.stderr, outcome.stderr
    assert "Traceback" not in outcome.output
    assert outcome.max_rss_mb < MAX_RSS_MB, f"peak RSS {outcome.max_rss_mb:.0f} MB"


# images.yaml, through `validate` (the stack file is the repository's dev stack)

CATALOGUE_CASES = {
    "binary junk": (PNG, 1, "is not UTF-8 text"),
    "50,000-deep nesting": (("- " + DEEP).encode(), 1, "nested more than 64 levels"),
    "alias bomb": (catalogue_laughs().encode(), 2, "anchors and aliases"),
    "control characters": (b"- quay.io/a/b:1\n- \x00\x01\x02\n", 2, "is not allowed in YAML"),
    "a mapping at the top": (b"images:\n  - quay.io/a/b:1\n", 1, "not a mapping"),
}


@pytest.mark.parametrize("content, line, message", CATALOGUE_CASES.values(), ids=CATALOGUE_CASES.keys())
def test_validate_refuses_a_hostile_catalogue(
    tmp_path: Path, content: bytes, line: int, message: str
) -> None:
    images = tmp_path / "images.yaml"
    images.write_bytes(content)
    outcome = run_bounded("validate", "--stack", "dev", "--images", str(images))
    assert_refused(outcome, f"{images}:{line}")
    assert message in outcome.stderr


def test_validate_refuses_an_oversized_catalogue(tmp_path: Path) -> None:
    images = tmp_path / "images.yaml"
    images.write_bytes(b"- quay.io/a/b:1\n" + b"#" * MAX_CATALOGUE_BYTES)
    outcome = run_bounded("validate", "--stack", "dev", "--images", str(images))
    assert_refused(outcome, str(images))
    assert f"larger than {MAX_CATALOGUE_BYTES:,} bytes" in outcome.stderr


def test_a_fifo_with_no_writer_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes: the reader refuses what is not a file."""
    fifo = tmp_path / "images.yaml"
    os.mkfifo(fifo)
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text("- quay.io/a/b:1\n")
    rendered = tmp_path / "deployment.yaml"
    os.mkfifo(rendered)
    for args, where in (
        (("validate", "--stack", "dev", "--images", str(fifo)), str(fifo)),
        (("discover", str(rendered), "--images", str(catalogue)), str(rendered)),
    ):
        outcome = run_bounded(*args)
        assert_refused(outcome, where)
        assert "is not a regular file" in outcome.stderr
    # warm's state is not input: a FIFO in its place is ignored, with a warning, not waited on
    work = tmp_path / "warm"
    work.mkdir()
    state = work / "state.yaml"
    os.mkfifo(state)
    assert_ignored_with_a_warning(_warm_with_state(work, state), state, "is not a regular file")


def test_plan_refuses_a_hostile_catalogue_too(tmp_path: Path) -> None:
    images = tmp_path / "images.yaml"
    images.write_text(catalogue_laughs())
    assert_refused(run_bounded("plan", "--stack", "dev", "--images", str(images)), f"{images}:2")


# warm's state file, through `warm`: not bad input. A file warm cannot read gets one warning naming
# why, and is ignored; the mirror (a closed port on loopback) fails the image, so nothing finishes
# and the file stays as it was until a warm records an image over it.

STATE_CASES = {
    "not YAML": (b"docker.io/library/nginx:1.27:\n  digest: [sha256:abc\n", "YAML syntax error"),
    "binary": (PNG, "is not UTF-8 text"),
    "non-mapping entries": (
        b"docker.io/library/nginx:1.27:\n  digest: sha256:abc\ndocker.io/library/redis:7: sha256:def\n",
        "is not a mapping with 'digest' and 'platforms' (line 3)",
    ),
    "a list at the top": (b"- docker.io/library/nginx:1.27\n", "it is a list"),
    "alias bomb": (billion_laughs().encode(), "anchors and aliases"),
    "deep nesting": (("a: " + DEEP).encode(), "nested more than 64 levels"),
    "oversized": (b"#" * (MAX_LOCK_BYTES + 1), f"larger than {MAX_LOCK_BYTES:,} bytes"),
}


def _warm_with_state(tmp_path: Path, state: Path) -> Outcome:
    images = tmp_path / "images.yaml"
    images.write_text("- docker.io/library/nginx:1.27\n")
    return run_bounded(
        "warm",
        "--images",
        str(images),
        "--mirror",
        "docker.io=http://127.0.0.1:9",
        "--plain-http",
        "--attempts",
        "1",
        "--state",
        str(state),
    )


def assert_ignored_with_a_warning(outcome: Outcome, state: Path, message: str) -> None:
    assert outcome.returncode == 1, outcome.output
    assert "FAILED  docker.io/library/nginx:1.27" in outcome.stdout, "the warm went on"
    warnings = [line for line in outcome.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {state}: "), outcome.stderr
    assert message in warnings[0] and "every tag is warmed" in warnings[0]
    assert "Traceback" not in outcome.output
    assert outcome.max_rss_mb < MAX_RSS_MB, f"peak RSS {outcome.max_rss_mb:.0f} MB"


@pytest.mark.parametrize("content, message", STATE_CASES.values(), ids=STATE_CASES.keys())
def test_warm_ignores_a_state_file_it_cannot_read_with_one_warning(
    tmp_path: Path, content: bytes, message: str
) -> None:
    state = tmp_path / "images.warm-state.yaml"
    state.write_bytes(content)
    assert_ignored_with_a_warning(_warm_with_state(tmp_path, state), state, message)
    assert state.read_bytes() == content, "no image finished: nothing replaced it"


# stack files, through `validate` on a copy of the project (the stack file sits beside components/)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "components", copy / "components", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("__main__.py", "Pulumi.yaml", "images.yaml"):
        shutil.copy(ROOT / name, copy / name)
    return copy


STACK_CASES = {
    "a list at the top": (b"- config:\n    aws:region: eu-west-1\n", 1, "not a list"),
    "a scalar at the top": (b"just some text\n", 1, "not a single value"),
    "binary": (PNG, 1, "is not UTF-8 text"),
    "deeply nested": (("config:\n  ecr-pull-through-cache:tags: " + DEEP).encode(), 2, "nested more"),
    "alias bomb": (b"config:\n" + billion_laughs().replace("a0:", "  a0:").encode(), 2, "anchors"),
    "config is a list": (b"config:\n  - aws:region\n", 2, "'config' must be a mapping"),
}


@pytest.mark.parametrize(
    "stack, content, line, message",
    [(f"hostile{number}", *case) for number, case in enumerate(STACK_CASES.values())],
    ids=STACK_CASES.keys(),
)
def test_validate_refuses_a_hostile_stack_file(
    project: Path, stack: str, content: bytes, line: int, message: str
) -> None:
    (project / f"Pulumi.{stack}.yaml").write_bytes(content)
    outcome = run_bounded("validate", "--stack", stack, cwd=project)
    assert_refused(outcome, f"Pulumi.{stack}.yaml:{line}")
    assert message in outcome.stderr


def test_validate_refuses_an_oversized_stack_file(project: Path) -> None:
    (project / "Pulumi.huge.yaml").write_bytes(b"config: {}\n" + b"#" * MAX_STACK_FILE_BYTES)
    outcome = run_bounded("validate", "--stack", "huge", cwd=project)
    assert_refused(outcome, "Pulumi.huge.yaml")
    assert f"larger than {MAX_STACK_FILE_BYTES:,} bytes" in outcome.stderr


def test_plan_refuses_a_hostile_pulumi_yaml(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "components", project / "components", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "Pulumi.dev.yaml", project / "Pulumi.dev.yaml")
    (project / "Pulumi.yaml").write_text("name: x\nconfig: " + DEEP + "\n")
    assert_refused(run_bounded("plan", "--stack", "dev", cwd=project), "Pulumi.yaml:2")


# mirror URLs

SECRET = "wJalrXUtnFEMI-K7MDENG-EXAMPLEKEY"


@pytest.mark.parametrize("url", [f"http://AWS:{SECRET}@127.0.0.1:5000", f"https://{SECRET}@127.0.0.1:9"])
def test_warm_refuses_credentials_in_a_mirror_url_without_echoing_them(tmp_path: Path, url: str) -> None:
    images = tmp_path / "images.yaml"
    images.write_text("- docker.io/library/nginx:1.27\n")
    outcome = run_bounded("warm", "--images", str(images), "--mirror", f"docker.io={url}", "--plain-http")
    assert_refused(outcome, "--mirror")
    assert "carries a user name or password" in outcome.stderr
    assert SECRET not in outcome.output


def test_validate_refuses_a_lifecycle_policy_nested_past_the_recursion_limit(project: Path) -> None:
    """JSON text inside a stack file gets the same treatment as its YAML."""
    settings = "  aws:region: eu-west-1\n  ecr-pull-through-cache:endpoints: {enabled: false}\n"
    policy = "  ecr-pull-through-cache:lifecyclePolicy: '" + "[" * 100_000 + "'\n"
    (project / "Pulumi.deepjson.yaml").write_text("config:\n" + settings + policy)
    outcome = run_bounded("validate", "--stack", "deepjson", cwd=project)
    assert outcome.returncode == 2, outcome.output
    assert "Pulumi.deepjson.yaml:4: ecr-pull-through-cache:lifecyclePolicy" in outcome.stderr
    assert "nests arrays or objects too deeply" in outcome.stderr
    assert "Traceback" not in outcome.output


@pytest.mark.parametrize(
    "text",
    [
        f"docker.io=http:/AWS:{SECRET}@127.0.0.1",
        f"docker.io:AWS:{SECRET}@127.0.0.1",
        f"docker.io=AWS:{SECRET}@x",
    ],
    ids=["one slash", "no '='", "no scheme"],
)
def test_a_malformed_mirror_with_an_at_sign_is_refused_without_quoting_it(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_mirror(text)
    assert "not UPSTREAM=URL" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_mirrors_from_a_stack_go_through_the_same_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The account comes from STS: a stand-in answering with userinfo in it is refused, not used."""

    class HostileSts:
        def get_caller_identity(self) -> dict[str, str]:
            return {"Account": f"AWS:{SECRET}@evil.example/"}

    class FakeBoto3:
        @staticmethod
        def client(service: str, region_name: str) -> HostileSts:
            return HostileSts()

    monkeypatch.setitem(sys.modules, "boto3", FakeBoto3)
    with pytest.raises(InputError) as caught:
        routes_from_stack("dev", load_settings("dev"))
    assert "carries a user name or password" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert caught.value.problems[0].source == "--stack dev"
