"""The upstream TagSource against loopback registries: pages, caps, the rate budget, digests, logins."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from components.model.image_lock import BudgetSpent, ResolveError
from components.warm.auth import login_variables
from components.warm.client import RetryPolicy
from components.warm.listing import next_link
from components.warm.tags import (
    TagListLimits,
    UpstreamTags,
    api_url,
    parse_tags_page,
)
from tests.warm.loopback import Handler, Loopback, serving

FAST = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.05, timeout=10)
REGISTRY = "registry.example"
DIGEST = "sha256:" + "a" * 64
T = TypeVar("T")


def call(
    handler: Handler,
    action: Callable[[UpstreamTags], Awaitable[T]],
    *,
    hosts: tuple[str, ...] = (REGISTRY,),
    loopback_seen: list[Loopback] | None = None,
    **kwargs: Any,
) -> T:
    """`action` on an UpstreamTags whose `registry.example` is served on loopback by `handler`."""

    async def go() -> T:
        async with serving(handler, hosts) as loopback:
            if loopback_seen is not None:
                loopback_seen.append(loopback)
            kwargs.setdefault("retry", FAST)
            kwargs.setdefault("environ", {})
            tags = UpstreamTags(endpoints={REGISTRY: loopback.url(REGISTRY)}, **kwargs)
            try:
                return await action(tags)
            finally:
                await tags.aclose()

    return asyncio.run(go())


def paged(all_tags: list[str], requests: list[str], link: Callable[[str, int], str] | None = None) -> Handler:
    """A distribution-style tags/list: `n` and `last`, and a relative next Link while tags remain."""

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        query = parse_qs(urlsplit(str(request.url)).query)
        n = int(query["n"][0])
        last = query.get("last", [""])[0]
        rest = [tag for tag in all_tags if tag > last]
        page = rest[:n]
        headers = {}
        if len(rest) > n:
            target = link(page[-1], n) if link else f"/v2/team/app/tags/list?last={page[-1]}&n={n}"
            headers["Link"] = f'<{target}>; rel="next"'
        return httpx.Response(200, json={"name": "team/app", "tags": page}, headers=headers)

    return handler


TAGS = sorted(f"1.{minor}.{patch}" for minor in range(5) for patch in range(7))


def test_follows_every_next_page_asking_n_tags_at_a_time() -> None:
    requests: list[str] = []
    tags = call(
        paged(TAGS, requests),
        lambda t: t.list_tags(REGISTRY, "team/app"),
        tag_limits=TagListLimits(page_size=4),
    )
    assert tags == TAGS
    assert len(requests) == 9  # 35 tags, 4 a page
    assert all("n=4" in url for url in requests)
    assert requests[0].startswith("https://registry.example/v2/team/app/tags/list?")


def test_a_next_page_on_another_origin_is_refused_and_never_asked() -> None:
    seen: list[Loopback] = []
    requests: list[str] = []

    def elsewhere(last: str, n: int) -> str:
        return f"{seen[0].url('other.example')}/v2/team/app/tags/list?last={last}&n={n}"

    with pytest.raises(ResolveError, match=r"points its next page at http://127\.0\.0\.1"):
        call(
            paged(TAGS, requests, elsewhere),
            lambda t: t.list_tags(REGISTRY, "team/app"),
            hosts=(REGISTRY, "other.example"),
            loopback_seen=seen,
            tag_limits=TagListLimits(page_size=10),
        )
    assert len(requests) == 1
    assert "other.example" not in seen[0].authorization


def test_a_next_page_for_another_repository_is_refused() -> None:
    requests: list[str] = []
    with pytest.raises(ResolveError, match="next page"):
        call(
            paged(TAGS, requests, lambda last, n: f"/v2/team/other/tags/list?last={last}&n={n}"),
            lambda t: t.list_tags(REGISTRY, "team/app"),
            tag_limits=TagListLimits(page_size=10),
        )
    assert len(requests) == 1


def test_pages_and_tags_are_capped() -> None:
    requests: list[str] = []
    with pytest.raises(ResolveError, match="runs past 3 pages"):
        call(
            paged(TAGS, requests),
            lambda t: t.list_tags(REGISTRY, "team/app"),
            tag_limits=TagListLimits(page_size=2, max_pages=3),
        )
    assert len(requests) == 3
    with pytest.raises(ResolveError, match="more than 5 tags"):
        call(
            paged(TAGS, []),
            lambda t: t.list_tags(REGISTRY, "team/app"),
            tag_limits=TagListLimits(page_size=4, max_tags=5),
        )


def test_a_next_link_that_repeats_a_page_is_refused() -> None:
    def loop(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"tags": ["a"]}, headers={"Link": '</v2/team/app/tags/list?last=a&n=1>; rel="next"'}
        )

    with pytest.raises(ResolveError, match="repeats an earlier one"):
        call(loop, lambda t: t.list_tags(REGISTRY, "team/app"))


def test_a_page_past_its_byte_cap_fails_the_image() -> None:
    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"tags": ["x" * 100] * 100})

    with pytest.raises(ResolveError, match="more than the 1000 bytes allowed"):
        call(huge, lambda t: t.list_tags(REGISTRY, "team/app"), tag_limits=TagListLimits(max_page_bytes=1000))


def head(headers: dict[str, str], status: int = 200) -> Callable[[list[str]], Handler]:
    def make(requests: list[str]) -> Handler:
        def handler(request: httpx.Request) -> httpx.Response:
            requests.append(f"{request.method} {request.url.path}")
            return httpx.Response(status, headers=headers)

        return handler

    return make


def test_the_digest_is_read_with_head_and_checked() -> None:
    requests: list[str] = []
    digest = call(
        head({"Docker-Content-Digest": DIGEST})(requests),
        lambda t: t.resolve_digest(REGISTRY, "team/app", "1.2.3"),
    )
    assert digest == DIGEST
    assert requests == ["HEAD /v2/team/app/manifests/1.2.3"]


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"Docker-Content-Digest": "sha256:abc"}, 200, "is not a sha256 or sha512 digest"),
        ({"Docker-Content-Digest": "sha256:" + "A" * 64}, 200, "is not a sha256 or sha512 digest"),
        ({}, 200, "sent no Docker-Content-Digest"),
        ({}, 404, "has no such tag"),
        ({}, 403, "answered 403"),
    ],
)
def test_a_missing_or_malformed_digest_fails_the_tag(
    headers: dict[str, str], status: int, message: str
) -> None:
    with pytest.raises(ResolveError, match=message) as raised:
        call(head(headers, status)([]), lambda t: t.resolve_digest(REGISTRY, "team/app", "1.2.3"))
    assert "registry.example/team/app:1.2.3" in str(raised.value)


def test_stops_before_the_budget_is_spent_saying_how_long_to_wait() -> None:
    requests: list[str] = []
    handler = head({"Docker-Content-Digest": DIGEST, "ratelimit-remaining": "1;w=21600"})(requests)

    async def twice(tags: UpstreamTags) -> str:
        await tags.resolve_digest(REGISTRY, "team/app", "1")
        return await tags.resolve_digest(REGISTRY, "team/app", "2")

    with pytest.raises(BudgetSpent, match="wait 21600 s") as raised:
        call(handler, twice)
    assert raised.value.budget.remaining == 1
    assert len(requests) == 1  # the second request was never sent


def test_a_429_stops_everything_and_no_more_requests_go_out() -> None:
    requests: list[str] = []
    handler = head({"Retry-After": "3600", "ratelimit-remaining": "0;w=7200"}, 429)(requests)

    async def twice(tags: UpstreamTags) -> None:
        with pytest.raises(BudgetSpent, match="wait 21600 s"):  # no window seen yet: Docker Hub's 6 h
            await tags.resolve_digest(REGISTRY, "team/app", "1")
        with pytest.raises(BudgetSpent):
            await tags.list_tags(REGISTRY, "team/other")

    call(handler, twice)
    assert requests == ["HEAD /v2/team/app/manifests/1"]


def test_a_login_from_the_environment_goes_to_its_registry() -> None:
    user_variable, password_variable, realm_variable = login_variables(REGISTRY)
    assert (user_variable, password_variable, realm_variable) == (
        "LOCK_REGISTRY_EXAMPLE_USERNAME",
        "LOCK_REGISTRY_EXAMPLE_PASSWORD",
        "LOCK_REGISTRY_EXAMPLE_TOKEN_REALM",
    )
    expected = "Basic " + base64.b64encode(b"reader:token").decode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != expected:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="registry"'})
        return httpx.Response(200, headers={"Docker-Content-Digest": DIGEST})

    environ = {user_variable: "reader", password_variable: "token"}
    assert call(handler, lambda t: t.resolve_digest(REGISTRY, "team/app", "1"), environ=environ) == DIGEST
    # Another registry's login is not this one's.
    with pytest.raises(ResolveError, match="asks for a login, and none is configured"):
        call(
            handler,
            lambda t: t.resolve_digest(REGISTRY, "team/app", "1"),
            environ={"LOCK_GHCR_IO_USERNAME": "reader", "LOCK_GHCR_IO_PASSWORD": "token"},
        )


def test_registry_names_map_to_their_api_hosts_through_the_upstream_table() -> None:
    assert api_url("docker.io", {}) == "https://registry-1.docker.io"
    assert api_url("ghcr.io", {}) == "https://ghcr.io"
    assert api_url("127.0.0.1:5000", {"127.0.0.1:5000": "http://127.0.0.1:5000/"}) == "http://127.0.0.1:5000"
    assert api_url("nvcr.io", {}) == "https://nvcr.io", "a registry the warm copies answers on its own name"
    assert login_variables("127.0.0.1:5000")[0] == "LOCK_127_0_0_1_5000_USERNAME"


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ('</v2/a/tags/list?n=2&last=b>; rel="next"', "/v2/a/tags/list?n=2&last=b"),
        ("</v2/a/tags/list?last=b>;rel=next", "/v2/a/tags/list?last=b"),
        ('<https://x/prev>; rel="prev", </v2/a/tags/list?last=c>; rel="next"', "/v2/a/tags/list?last=c"),
        ('<https://x/p>; rel="prev"', None),
        ("", None),
        (None, None),
    ],
)
def test_next_link(header: str | None, target: str | None) -> None:
    assert next_link(header) == target


@pytest.mark.parametrize(
    ("body", "tags"),
    [(b'{"name": "a", "tags": ["1", "2"]}', ["1", "2"]), (b'{"name": "a", "tags": null}', [])],
)
def test_parse_tags_page(body: bytes, tags: list[str]) -> None:
    assert parse_tags_page(body, "here") == tags


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"tags": [1]}', b'{"name": "a"}', b"\xff"])
def test_a_malformed_tag_list_fails_the_image(body: bytes) -> None:
    with pytest.raises(ResolveError, match="here: the tag list"):
        parse_tags_page(body, "here")
