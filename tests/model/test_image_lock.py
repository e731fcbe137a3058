"""The lock: resolving selectors, a stable file, `--check` reports, rate limits, tags to warm."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from components.cli.lock import run, run_lock
from components.errors import InputError
from components.model.catalogue import CatalogueEntry, parse_catalogue
from components.model.image_lock import (
    LOCK_HEADER,
    BudgetSpent,
    LockedImage,
    LockedTag,
    ResolveError,
    diff_locks,
    load_lock,
    lock_path_for,
    parse_lock,
    rate_budget,
    render_lock,
    resolve,
    tags_to_warm,
)
from components.safe_yaml import MAX_LOCK_BYTES

CATALOGUE = (
    "- image: nginx\n"
    "  semver: '>=1.26 <1.28'\n"
    "  latest: 2\n"
    "  platforms: [linux/amd64]\n"
    "- image: ghcr.io/dexidp/dex\n"
    "  allow: 'v2\\.4[0-9]\\.[0-9]+'\n"
    "  tags: [v2.39.1]\n"
    "- quay.io/argoproj/argocd:v2.7.3\n"
)


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


class FakeUpstream:
    """Upstream tags and digests in memory; counts requests."""

    def __init__(self, tags: dict[str, dict[str, str]]) -> None:
        self.tags = tags
        self.requests = 0
        self.budget_after: int | None = None

    def _count(self, registry: str) -> None:
        self.requests += 1
        if self.budget_after is not None and self.requests > self.budget_after:
            raise BudgetSpent(registry, rate_budget({"ratelimit-remaining": "0;w=21600"}))

    def list_tags(self, registry: str, repository: str) -> list[str]:
        self._count(registry)
        name = f"{registry}/{repository}"
        if name not in self.tags:
            raise ResolveError(f"{name}: 404 from the upstream")
        return list(self.tags[name])

    def resolve_digest(self, registry: str, repository: str, tag: str) -> str:
        self._count(registry)
        return self.tags[f"{registry}/{repository}"][tag]


def upstream() -> FakeUpstream:
    return FakeUpstream(
        {
            "docker.io/library/nginx": {
                "latest": digest(1),
                "1.26.2": digest(2),
                "1.27.2": digest(3),
                "1.27.3": digest(4),
                "1.27": digest(4),
                "1.28.0-rc.1": digest(5),
            },
            "ghcr.io/dexidp/dex": {"v2.41.1": digest(6), "v2.40.0": digest(7), "latest": digest(6)},
        }
    )


def entries() -> list[CatalogueEntry]:
    return parse_catalogue(CATALOGUE, source="images.yaml")


def test_resolve_records_each_tag_its_digest_and_what_chose_it() -> None:
    nginx = entries()[0]
    locked = resolve(
        nginx, upstream().tags["docker.io/library/nginx"], upstream().tags["docker.io/library/nginx"]
    )
    assert locked == LockedImage(
        "docker.io/library/nginx",
        "semver '>=1.26 <1.28'; latest 2",
        (
            LockedTag("1.27.2", digest(3), "semver '>=1.26 <1.28'"),
            LockedTag("1.27.3", digest(4), "semver '>=1.26 <1.28'"),
        ),
    )


def test_resolve_refuses_a_malformed_digest_and_an_empty_selection() -> None:
    nginx = entries()[0]
    with pytest.raises(ResolveError, match="no valid digest"):
        resolve(nginx, ["1.27.3"], {"1.27.3": "sha256:ABC"})
    with pytest.raises(ResolveError, match="matches none"):
        resolve(nginx, ["latest", "1.25.0"], {})


def test_tags_that_no_registry_could_hold_are_ignored() -> None:
    nginx = entries()[0]
    hostile = ["1.27.3", "1.27.4 ", "1.27.5/../x", "-1.27.6", "1.27.7" + "0" * 200, "1.27.8\n"]
    assert [t.tag for t in resolve(nginx, hostile, {tag: digest(1) for tag in hostile}).tags] == ["1.27.3"]


def test_lock_file_round_trips_and_is_byte_identical_when_nothing_moved(tmp_path: Path) -> None:
    lock_path = tmp_path / "images.lock.yaml"
    source = upstream()
    assert run_lock(entries(), source, lock_path, check=False, out=io.StringIO()) == 0
    first = lock_path.read_bytes()
    assert b"1.27.3:\n" in first and b"chosen-by: semver '>=1.26 <1.28'" in first
    assert parse_lock(first, source="lock") == parse_lock(
        render_lock(parse_lock(first, source="l")).encode(), source="l"
    )
    mtime = lock_path.stat().st_mtime_ns
    out = io.StringIO()
    assert run_lock(entries(), upstream(), lock_path, check=False, out=out) == 0
    assert lock_path.read_bytes() == first
    assert lock_path.stat().st_mtime_ns == mtime, "an unchanged lock is not rewritten"
    assert "up to date" in out.getvalue()
    assert run_lock(entries(), upstream(), lock_path, check=True, out=io.StringIO()) == 0


def test_check_exits_1_and_says_what_moved(tmp_path: Path) -> None:
    lock_path = tmp_path / "images.lock.yaml"
    run_lock(entries(), upstream(), lock_path, check=False, out=io.StringIO())
    before = lock_path.read_bytes()
    moved = upstream()
    moved.tags["docker.io/library/nginx"]["1.27.4"] = digest(8)
    moved.tags["docker.io/library/nginx"]["1.27.3"] = digest(9)
    out = io.StringIO()
    assert run_lock(entries(), moved, lock_path, check=True, out=out) == 1
    assert lock_path.read_bytes() == before, "--check writes nothing"
    report = out.getvalue().splitlines()
    assert f"added    docker.io/library/nginx:1.27.4  {digest(8)}" in report
    assert f"removed  docker.io/library/nginx:1.27.2  {digest(3)}" in report
    assert f"moved    docker.io/library/nginx:1.27.3  {digest(4)} -> {digest(9)}" in report


def test_one_failed_image_keeps_its_previous_entry_and_is_named(tmp_path: Path) -> None:
    lock_path = tmp_path / "images.lock.yaml"
    run_lock(entries(), upstream(), lock_path, check=False, out=io.StringIO())
    broken = upstream()
    del broken.tags["ghcr.io/dexidp/dex"]
    broken.tags["docker.io/library/nginx"]["1.27.9"] = digest(10)
    out = io.StringIO()
    assert run_lock(entries(), broken, lock_path, check=False, out=out) == 1
    assert "failed  ghcr.io/dexidp/dex: 404 from the upstream" in out.getvalue()
    lock = parse_lock(lock_path.read_bytes(), source="lock")
    assert [t.tag for t in lock["ghcr.io/dexidp/dex"].tags] == ["v2.40.0", "v2.41.1"]
    assert [t.tag for t in lock["docker.io/library/nginx"].tags] == ["1.27.3", "1.27.9"]


def test_a_spent_budget_stops_before_more_requests_and_says_how_long_to_wait(tmp_path: Path) -> None:
    limited = upstream()
    limited.budget_after = 1
    out = io.StringIO()
    assert run_lock(entries(), limited, tmp_path / "l.yaml", check=False, out=out) == 1
    assert "wait 21600 s" in out.getvalue()
    assert limited.requests == 2, "nothing is asked after the budget is spent"


@pytest.mark.parametrize(
    ("headers", "needed", "proceed", "wait"),
    [
        ({"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600"}, 10, True, 0),
        ({"RateLimit-Remaining": "3;w=21600"}, 3, False, 21600),
        ({"ratelimit-limit": "100;w=3600", "ratelimit-remaining": "1"}, 1, False, 3600),
        ({"ratelimit-remaining": "0;w=21600", "retry-after": "120"}, 1, False, 120),
        ({"retry-after": "30"}, 1, False, 30),
        ({}, 1000, True, 0),
        ({"ratelimit-remaining": "not-a-number"}, 1, True, 0),
    ],
)
def test_rate_budget(headers: dict[str, str], needed: int, proceed: bool, wait: int) -> None:
    budget = rate_budget(headers, needed=needed)
    assert (budget.proceed, budget.wait_seconds) == (proceed, wait)
    if not proceed:
        assert f"wait {wait} s" in budget.message("docker.io")


def test_tags_to_warm_expands_selectors_through_the_lock(tmp_path: Path) -> None:
    lock_path = tmp_path / "images.lock.yaml"
    run_lock(entries(), upstream(), lock_path, check=False, out=io.StringIO())
    lock = parse_lock(lock_path.read_bytes(), source=str(lock_path))
    warm = tags_to_warm(entries(), lock, lock_source=str(lock_path))
    assert [(str(w.entry.ref), w.digest) for w in warm] == [
        ("docker.io/library/nginx:1.27.2", digest(3)),
        ("docker.io/library/nginx:1.27.3", digest(4)),
        ("ghcr.io/dexidp/dex:v2.39.1", None),
        ("ghcr.io/dexidp/dex:v2.40.0", digest(7)),
        ("ghcr.io/dexidp/dex:v2.41.1", digest(6)),
        ("quay.io/argoproj/argocd:v2.7.3", None),
    ]
    assert all(w.entry.selector is None for w in warm)
    assert warm[0].entry.platforms == ("linux/amd64",)


def test_a_selector_without_a_lock_entry_names_the_command() -> None:
    with pytest.raises(InputError) as caught:
        tags_to_warm(entries(), {}, lock_source="images.lock.yaml", stack="prod")
    problem = caught.value.problems[0]
    assert (problem.source, problem.line) == ("images.yaml", 1)
    assert problem.hint == "run `python -m components lock --stack prod` and commit images.lock.yaml"


def test_a_changed_selector_needs_a_new_lock() -> None:
    stale = {
        "docker.io/library/nginx": LockedImage("docker.io/library/nginx", "latest 1", ()),
        "ghcr.io/dexidp/dex": LockedImage("ghcr.io/dexidp/dex", "allow 'v2\\.4[0-9]\\.[0-9]+'", ()),
    }
    with pytest.raises(InputError) as caught:
        tags_to_warm(entries(), stale, lock_source="images.lock.yaml")
    assert [p.message for p in caught.value.problems] == [
        "the selector for docker.io/library/nginx was locked with another selector in images.lock.yaml"
    ]


def test_diff_reports_a_changed_selector() -> None:
    old = {"x": LockedImage("x", "latest 1", (LockedTag("1.0.0", digest(1), "latest 1"),))}
    new = {"x": LockedImage("x", "latest 2", (LockedTag("1.0.0", digest(1), "latest 2"),))}
    diff = diff_locks(old, new)
    assert diff.changed and diff.report() == "selector x  latest 1 -> latest 2"
    assert not diff_locks(old, old).changed and diff_locks(old, old).report() == "the lock is up to date"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 2\nimages: {}\n", "not a version 1"),
        (
            "version: 1\nimages:\n  x:\n    selector: latest 1\n    tags:\n      1.0.0: {digest: sha256:12, chosen-by: a}\n",
            "needs 'digest",
        ),
        ("version: 1\nimages: &a {}\n", "anchors"),
    ],
)
def test_malformed_locks_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_lock(text.encode(), source="images.lock.yaml")


def test_lock_path_sits_beside_the_catalogue() -> None:
    assert lock_path_for("conf/images.yaml") == Path("conf/images.lock.yaml")


def test_the_command_reads_the_catalogue_and_writes_the_lock_beside_it(tmp_path: Path) -> None:
    images = tmp_path / "images.yaml"
    images.write_text(CATALOGUE)
    args = argparse.Namespace(stack=None, images=str(images), lock=None, check=False)
    assert run(args, upstream, out=io.StringIO()) == 0
    assert (tmp_path / "images.lock.yaml").read_text().startswith(LOCK_HEADER)
    assert run(argparse.Namespace(**{**vars(args), "check": True}), upstream, out=io.StringIO()) == 0


def test_the_command_exits_2_on_a_bad_catalogue_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images.yaml"
    images.write_text("- image: nginx\n  latest: 0\n")
    source = upstream()
    args = argparse.Namespace(stack=None, images=str(images), lock=None, check=False)
    assert run(args, lambda: source, out=io.StringIO()) == 2
    assert f"{images}:2: 'latest' must be a whole number" in capsys.readouterr().err
    assert source.requests == 0


def test_a_catalogue_without_selectors_writes_no_lock(tmp_path: Path) -> None:
    out = io.StringIO()
    entries = parse_catalogue("- nginx:1.27.3\n", source="images.yaml")
    assert run_lock(entries, upstream(), tmp_path / "images.lock.yaml", check=False, out=out) == 0
    assert not (tmp_path / "images.lock.yaml").exists()
    assert "nothing to lock" in out.getvalue()


def test_a_lock_past_its_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    lock = tmp_path / "images.lock.yaml"
    lock.write_bytes(b"#" * (MAX_LOCK_BYTES + 1))
    with pytest.raises(InputError, match=f"larger than {MAX_LOCK_BYTES:,} bytes"):
        load_lock(lock)
