"""Where `warm` sends its pulls: one cache URL per upstream registry, checked before any request.

A mirror comes from `--mirror UPSTREAM=URL`, or from the stack (`warm --stack S`). The same form
names where a copied registry's copies go (`--copy UPSTREAM=URL`) and where its API answers when
not on its own name (`--upstream UPSTREAM=URL`, also for `lock` and `doctor`). The logins those
commands read from the environment may name their token service's origin too
(`LOCK_<REGISTRY>_TOKEN_REALM`), checked here as well.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from components.errors import InputError, Problem
from components.model.ecr import CachePrefix
from components.model.images import DOCKER_HUB, DOCKER_HUB_ALIASES, ImageRef
from components.model.upstreams import token_realm_problem
from components.redaction import redact_userinfo
from components.warm.auth import is_loopback


@dataclass(frozen=True)
class Mirror:
    """Images whose registry is `upstream` are pulled as `<url>/<repository>:<tag>`."""

    upstream: str
    url: str
    upstream_prefix: str | None = None  # an ECR upstream's upstreamRepositoryPrefix (--stack only)

    def path_below(self, ref: ImageRef) -> str:
        """The repository below `url`: ECR leaves the rule's upstream prefix out of the cached name."""
        return CachePrefix.from_registry_url(self.url, self.upstream_prefix).path_below(ref)


def _shown(text: str) -> str:
    """`text` quoted for a message, unless an '@' means it may hold a password a URL parser missed."""
    return "(not shown: it contains '@')" if "@" in text else repr(text)


def checked_mirror(upstream: str, url: str, source: str, *, upstream_prefix: str | None = None) -> Mirror:
    """A mirror whose URL is http(s), names a host, and carries no credentials.

    A user name or password in the URL would be sent to whoever answers and quoted in every retry
    and failure line; registry logins come from ECR or the registry's token service instead.
    """
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise InputError(
            [
                Problem(
                    source,
                    f"the URL for {upstream!r} carries a user name or password ({redact_userinfo(url)})",
                    "remove 'user:password@' from the URL: the cache's login comes from your AWS "
                    "credentials, or from REGISTRY_USERNAME and REGISTRY_PASSWORD for a cache that is not ECR",
                )
            ]
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            [
                Problem(
                    source,
                    f"{upstream}={_shown(url)} is not UPSTREAM=URL with an http(s) URL",
                    "for example docker.io=https://<registry>/docker-hub",
                )
            ]
        )
    registry = DOCKER_HUB if upstream in DOCKER_HUB_ALIASES else upstream
    return Mirror(registry, url.rstrip("/"), upstream_prefix)


def parse_mirror(text: str, option: str = "--mirror") -> Mirror:
    """`UPSTREAM=URL`, as `option` takes it, checked (`checked_mirror`)."""
    upstream, sep, url = text.partition("=")
    if not sep or not upstream:
        raise InputError(
            [
                Problem(
                    option,
                    f"{_shown(text)} is not UPSTREAM=URL",
                    "for example docker.io=https://<registry>/docker-hub",
                )
            ]
        )
    return checked_mirror(upstream, url, option)


def check_plain_http(mirrors: Sequence[Mirror], plain_http: bool, option: str = "--mirror") -> None:
    for mirror in mirrors:
        parts = urlsplit(mirror.url)
        if parts.scheme == "http" and not plain_http:
            raise InputError(
                [Problem(option, f"{mirror.url} is plain HTTP", "pass --plain-http (loopback only)")]
            )
        if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            raise InputError(
                [
                    Problem(
                        "--plain-http",
                        f"{mirror.url} is not a loopback address",
                        "use https for real registries",
                    )
                ]
            )


def add_upstream_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="UPSTREAM=URL",
        help="where an upstream's API answers, if not https://<its name> (a mirror); repeatable",
    )


def upstream_endpoints(texts: Sequence[str]) -> dict[str, str]:
    """`--upstream UPSTREAM=URL` as registry -> API URL (`lock`, `doctor`), each checked as
    `warm --upstream` checks it: http(s), no login in the URL, plain HTTP only on loopback."""
    endpoints = [parse_mirror(text, "--upstream") for text in texts]
    check_plain_http(endpoints, plain_http=True, option="--upstream")
    return {endpoint.upstream: endpoint.url for endpoint in endpoints}


def check_token_realms(environ: Mapping[str, str]) -> None:
    """Every `LOCK_<REGISTRY>_TOKEN_REALM` set (`auth.login_variables`) is a token service's URL:
    https, or plain HTTP on loopback for the local stand-ins."""
    problems = []
    for variable, url in sorted(environ.items()):
        if not (variable.startswith("LOCK_") and variable.endswith("_TOKEN_REALM")):
            continue
        parts = urlsplit(url)
        if parts.scheme == "http" and is_loopback(parts.hostname or "") and "@" not in parts.netloc:
            continue
        if (problem := token_realm_problem(url)) is not None:
            problems.append(
                Problem(
                    variable,
                    problem,
                    "set it to the https:// URL of the registry's token service, as its WWW-Authenticate "
                    "realm names it, or unset it",
                )
            )
    if problems:
        raise InputError(problems)
