"""`lock` against a real upstream registry with dozens of tags, listed page by page.

The upstream is Debian's `docker-registry` (distribution 2.8), which ignores `n` and answers the
whole tag list at once; distribution 3, Docker Hub, GHCR and Quay page with `n` and `Link`. So a
small front on 127.0.0.1 pages the real registry's answer as distribution 3 does
(`Link: </v2/<name>/tags/list?last=<tag>&n=<n>>; rel="next"`) and passes every other request
through unchanged: the tags, manifests and digests are the real registry's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from components.cli.lock import run
from components.model.catalogue import load_catalogue
from components.model.discovery import FoundImage
from components.model.image_lock import load_lock, tags_to_warm
from components.warm.client import RegistryClient
from components.warm.pin_checks import (
    held_digests,
    locked_digest_findings,
    served_digests,
    uncached_pin_findings,
)
from components.warm.tags import TagListLimits, UpstreamTags, UpstreamTagSource
from components.warm.targets import WarmResult, WarmTarget
from components.warm.warmer import Warmer, warm_all
from standins.registries import RunningRegistry, start_registry
from standins.seed import OCI_CONFIG, OCI_MANIFEST, Pusher, layer
from standins.token_registry import PASSWORD as TOKEN_PASSWORD
from standins.token_registry import USERNAME as TOKEN_USERNAME
from standins.token_registry import token_registry
from tests.registry.conftest import ROOT

VERSIONS = [f"1.{minor}.{patch}" for minor in range(4) for patch in range(10)]
OTHER_TAGS = ["latest", "1.2", "2.0.0-rc.1"]
PAGE = 5


@dataclass
class PagingFront:
    """Pages `tags/list` of `upstream` with `n`/`last`/`Link`; passes the rest through. Records paths."""

    upstream: str
    requests: list[str] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def answer(self, method: str, path: str, accept: str | None) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(f"{method} {path}")
        parts = urlsplit(path)
        headers = {"Accept": accept} if accept else {}
        upstream = httpx.request(method, f"{self.upstream}{parts.path}", headers=headers, timeout=30)
        kept = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() in ("content-type", "docker-content-digest")
        }
        if not parts.path.endswith("/tags/list") or upstream.status_code != 200:
            kept["Content-Length"] = upstream.headers.get("content-length", "0")
            return upstream.status_code, kept, upstream.content
        query = parse_qs(parts.query)
        n, last = int(query["n"][0]), query.get("last", [""])[0]
        rest = sorted(tag for tag in upstream.json()["tags"] if tag > last)
        page = rest[:n]
        if len(rest) > n:
            kept["Link"] = f'<{parts.path}?{urlencode({"last": page[-1], "n": n})}>; rel="next"'
        body = json.dumps({"name": upstream.json()["name"], "tags": page}).encode()
        kept["Content-Length"] = str(len(body))
        return 200, kept, body


@contextlib.contextmanager
def paging_front(upstream: str) -> Iterator[PagingFront]:
    front = PagingFront(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            status, headers, body = front.answer(method, self.path, self.headers.get("Accept"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if method == "GET":
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def log_message(self, *_: object) -> None:
            pass

    front.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=front.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield front
    finally:
        front.server.shutdown()
        front.server.server_close()
        thread.join(timeout=5)


class Upstream:
    """Tags pushed to a real registry: one small image, a manifest per tag (so digests differ)."""

    def __init__(self, registry: RunningRegistry) -> None:
        self.registry = registry
        self.pusher = Pusher(registry.url)
        self.config = (
            b'{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}'
        )
        self.layer = layer("lock-test")
        self.digests: dict[tuple[str, str], str] = {}

    def push(self, repository: str, tag: str, revision: int = 1) -> str:
        config = self.pusher.blob(repository, self.config)
        blob = self.pusher.blob(repository, self.layer)
        document: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": len(self.config)},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": blob,
                    "size": len(self.layer),
                }
            ],
            "annotations": {"tag": tag, "revision": str(revision)},
        }
        digest, _ = self.pusher.manifest(repository, tag, OCI_MANIFEST, document)
        self.digests[(repository, tag)] = digest
        return digest


@dataclass
class LockSetup:
    upstream: Upstream
    front: PagingFront
    catalogue: Path

    @property
    def lock(self) -> Path:
        return self.catalogue.with_name("images.lock.yaml")

    def run_lock(self, *, check: bool = False) -> tuple[int, str]:
        """`lock` as the command runs it, with the upstream TagSource; the registry is the front."""
        tags = UpstreamTags(
            endpoints={self.front.address: self.front.url}, tag_limits=TagListLimits(page_size=PAGE)
        )
        out = io.StringIO()
        args = argparse.Namespace(stack=None, images=str(self.catalogue), lock=None, check=check)
        with UpstreamTagSource(tags) as source:
            code = run(args, lambda: source, out=out)
        return code, out.getvalue()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[LockSetup]:
    registry = start_registry("upstream", tmp_path / "registries")
    try:
        upstream = Upstream(registry)
        for tag in VERSIONS + OTHER_TAGS:
            upstream.push("team/app", tag)
        with paging_front(registry.url) as front:
            catalogue = tmp_path / "images.yaml"
            catalogue.write_text(
                f"- image: {front.address}/team/app\n  semver: '>=1.1 <1.3'\n  latest: 3\n"
                f"- {front.address}/team/app:latest\n"
            )
            yield LockSetup(upstream, front, catalogue)
            upstream.pusher.close()
    finally:
        registry.stop()


def test_lock_resolves_a_selector_over_a_paged_tag_list_and_rewrites_nothing_when_nothing_moved(
    setup: LockSetup,
) -> None:
    code, out = setup.run_lock()
    assert code == 0, out
    name = f"{setup.front.address}/team/app"
    locked = load_lock(setup.lock)[name]
    assert {t.tag: t.digest for t in locked.tags} == {
        tag: setup.upstream.digests[("team/app", tag)] for tag in ("1.2.7", "1.2.8", "1.2.9")
    }
    assert locked.selector == "semver '>=1.1 <1.3'; latest 3"
    pages = [r for r in setup.front.requests if "/tags/list" in r]
    assert len(pages) == -(-len(VERSIONS + OTHER_TAGS) // PAGE)  # every page, PAGE tags at a time
    assert all(f"n={PAGE}" in page for page in pages)
    heads = sorted(r for r in setup.front.requests if r.startswith("HEAD"))
    assert heads == [f"HEAD /v2/team/app/manifests/1.2.{n}" for n in (7, 8, 9)]

    written, mtime = setup.lock.read_bytes(), setup.lock.stat().st_mtime_ns
    code, out = setup.run_lock()
    assert code == 0, out
    assert "the lock is up to date" in out
    assert setup.lock.read_bytes() == written
    assert setup.lock.stat().st_mtime_ns == mtime  # not even rewritten with the same bytes


def test_lock_check_exits_1_after_a_tag_moves_upstream_and_lock_follows_it(setup: LockSetup) -> None:
    assert setup.run_lock()[0] == 0
    before = setup.lock.read_bytes()
    old = setup.upstream.digests[("team/app", "1.2.9")]
    new = setup.upstream.push("team/app", "1.2.9", revision=2)
    assert new != old

    code, out = setup.run_lock(check=True)
    assert code == 1
    assert f"moved    {setup.front.address}/team/app:1.2.9  {old} -> {new}" in out
    assert setup.lock.read_bytes() == before  # --check writes nothing

    assert setup.run_lock()[0] == 0
    assert {t.tag: t.digest for t in load_lock(setup.lock)[f"{setup.front.address}/team/app"].tags}[
        "1.2.9"
    ] == new
    assert setup.run_lock(check=True) == (0, "the lock is up to date\n")


def test_lock_selects_a_cosign_signature_tag(setup: LockSetup) -> None:
    subject = setup.upstream.digests[("team/app", "1.3.9")]
    signature_tag = subject.replace(":", "-") + ".sig"
    signature = setup.upstream.push("team/app", signature_tag)
    setup.catalogue.write_text(
        f"- image: {setup.front.address}/team/app\n  allow: 'sha256-[0-9a-f]{{64}}\\.sig'\n"
    )
    code, out = setup.run_lock()
    assert code == 0, out
    locked = load_lock(setup.lock)[f"{setup.front.address}/team/app"]
    assert [(t.tag, t.digest) for t in locked.tags] == [(signature_tag, signature)]


def test_an_image_the_upstream_lacks_fails_named_and_the_others_are_locked(setup: LockSetup) -> None:
    text = setup.catalogue.read_text()
    setup.catalogue.write_text(text + f"- image: {setup.front.address}/team/gone\n  latest: 1\n")
    code, out = setup.run_lock()
    assert code == 1
    assert f"failed  {setup.front.address}/team/gone: tags of team/gone: the registry answered 404" in out
    assert list(load_lock(setup.lock)) == [f"{setup.front.address}/team/app"]


def test_warm_through_a_cache_checks_locked_digests_and_workload_pins(
    setup: LockSetup, tmp_path: Path
) -> None:
    """What `warm` does with the lock: warm each locked tag through the cache, then compare digests."""
    assert setup.run_lock()[0] == 0
    cache = start_registry("cache", tmp_path / "registries", remote_url=setup.upstream.registry.url)
    try:
        lock = load_lock(setup.lock)
        old = setup.upstream.digests[("team/app", "1.2.8")]
        moved = setup.upstream.push("team/app", "1.2.8", revision=2)  # after the lock, before the warm
        locked = tags_to_warm(load_catalogue(setup.catalogue), lock, lock_source=str(setup.lock))
        targets = [
            WarmTarget(t.entry.ref, t.entry.ref.repository, t.entry.ref.tag or "latest") for t in locked
        ]

        async def warm() -> list[WarmResult]:
            async with RegistryClient(cache.url, plain_http=True) as client:
                return await warm_all(Warmer(client), targets)

        results = asyncio.run(warm())
        assert [r.error for r in results] == [None] * 4
        findings = locked_digest_findings(
            locked, served_digests(results), lock_command="python -m components lock"
        )
        assert [(f.image, old in f.message, moved in f.message) for f in findings] == [
            (f"{setup.front.address}/team/app:1.2.8", True, True)
        ]
        pinned = [
            FoundImage(
                f"{setup.front.address}/team/app:1.2.8@{old}", "rendered/app.yaml", 7, "Deployment/app"
            ),
            FoundImage(
                f"{setup.front.address}/team/app@{setup.upstream.digests[('team/app', '1.2.9')]}",
                "rendered/app.yaml",
                9,
                "Deployment/app",
            ),
        ]
        assert [f.image for f in uncached_pin_findings(pinned, held_digests(results))] == [
            f"{setup.front.address}/team/app:1.2.8@{old}"
        ]
    finally:
        cache.stop()


def test_the_lock_command_reads_an_upstream_where_upstream_says(setup: LockSetup) -> None:
    """`lock --upstream nvcr.io=URL`: a registry the catalogue names on its own (a copied one, here)
    is read at the URL given, as warm reads it for copies."""
    setup.catalogue.write_text("- image: nvcr.io/team/app\n  semver: '>=1.1 <1.3'\n  latest: 1\n")
    command = [sys.executable, "-m", "components", "lock", "--images", str(setup.catalogue)]
    done = subprocess.run(
        [*command, "--upstream", f"nvcr.io={setup.front.url}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    locked = load_lock(setup.lock)["nvcr.io/team/app"]
    assert [(t.tag, t.digest) for t in locked.tags] == [
        ("1.2.9", setup.upstream.digests[("team/app", "1.2.9")])
    ]
    refused = subprocess.run(
        [*command, "--upstream", "nvcr.io=http://10.1.2.3:5000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "not a loopback address" in refused.stderr


def test_lock_logs_in_to_a_token_service_on_another_origin_only_when_told(tmp_path: Path) -> None:
    """A self-hosted GitLab's tokens come from the GitLab host, not the registry's: `lock` keeps the
    login from it until LOCK_<REGISTRY>_TOKEN_REALM names it."""

    def seed(url: str) -> None:
        pusher = Pusher(url)
        try:
            pusher.single("team/app", "1.2.9", "linux/amd64", [layer("app")])
        finally:
            pusher.close()

    with token_registry(tmp_path / "token", seed, realm_host="localhost") as upstream:
        catalogue = tmp_path / "images.yaml"
        catalogue.write_text("- image: nvcr.io/team/app\n  semver: '>=1'\n  latest: 1\n")
        command = [
            sys.executable, "-m", "components", "lock", "--images", str(catalogue),
            "--upstream", f"nvcr.io={upstream.url}",
        ]  # fmt: skip
        logins = {"LOCK_NVCR_IO_USERNAME": TOKEN_USERNAME, "LOCK_NVCR_IO_PASSWORD": TOKEN_PASSWORD}
        realm = f"http://localhost:{upstream.port}"

        def lock(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                command,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, **environment},
            )

        withheld = lock(logins)
        assert withheld.returncode == 1, withheld.stdout + withheld.stderr
        assert f"the login was not sent to the token service at {realm}" in withheld.stdout + withheld.stderr
        trusted = lock({**logins, "LOCK_NVCR_IO_TOKEN_REALM": f"{realm}/token"})
        assert trusted.returncode == 0, trusted.stdout + trusted.stderr
        assert TOKEN_PASSWORD not in trusted.stdout + trusted.stderr
        locked = load_lock(catalogue.with_name("images.lock.yaml"))["nvcr.io/team/app"]
        assert [tag.tag for tag in locked.tags] == ["1.2.9"]
    assert {path for path, auth in upstream.authorizations if auth.startswith("Basic ")} == {"/token"}
