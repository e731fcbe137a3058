"""The warm command's options, and the engine options they make: how hard and how long to try."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from components.cli.mirrors import add_upstream_argument
from components.cli.warm_pins import add_pin_arguments
from components.errors import InputError, Problem
from components.model.ecr import is_ecr_host
from components.warm.auth import Credentials, CredentialSource, UpstreamLogin, login_from_environment
from components.warm.client import RetryPolicy
from components.warm.engine import WarmOptions
from components.warm.limits import Limits

DEFAULTS = Limits()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", default="images.yaml", help="image catalogue (default: images.yaml)")
    parser.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="UPSTREAM=URL",
        help="warm through this cache; repeatable",
    )
    parser.add_argument(
        "--copy",
        action="append",
        default=[],
        metavar="UPSTREAM=URL",
        help="copy this upstream's images to this URL (https://<registry>/<prefix>); repeatable",
    )
    add_upstream_argument(parser)
    parser.add_argument("--stack", help="derive mirrors from Pulumi.<stack>.yaml and your AWS account")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default: 8)")
    parser.add_argument(
        "--platform", action="append", help="only these platforms, e.g. linux/amd64; repeatable"
    )
    add_pin_arguments(parser)
    parser.add_argument(
        "--plain-http", action="store_true", help="allow http:// mirrors on loopback addresses"
    )
    parser.add_argument("--attestations", action="store_true", help="also warm attestation manifests")
    add_limit_arguments(parser)


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """How hard and how long to try: attempts, backoff, deadlines, and a blob's progress limits."""
    parser.add_argument("--attempts", type=int, default=6, help="tries per request (default: 6)")
    parser.add_argument(
        "--retry-wait", type=float, default=0.2, help="first backoff in seconds (default: 0.2)"
    )
    parser.add_argument(
        "--retry-timeout",
        type=float,
        default=120.0,
        help="retry budget of a request other than a blob's, seconds (default: 120)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULTS.header_deadline,
        metavar="SECONDS",
        help="total deadline of a manifest or token answer, and of any answer's headers; a blob's "
        f"body has none, see --stall-timeout (default: {DEFAULTS.header_deadline:g})",
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=DEFAULTS.stall_timeout,
        metavar="SECONDS",
        help=f"a blob's body fails its attempt when no byte arrives for this long (default: {DEFAULTS.stall_timeout:g})",
    )
    parser.add_argument(
        "--min-speed",
        type=int,
        default=DEFAULTS.min_speed,
        metavar="BYTES",
        help="...or when fewer bytes a second than this arrive, on average over --speed-window "
        f"(default: {DEFAULTS.min_speed})",
    )
    parser.add_argument(
        "--speed-window",
        type=float,
        default=DEFAULTS.speed_window,
        metavar="SECONDS",
        help=f"the window --min-speed is averaged over (default: {DEFAULTS.speed_window:g})",
    )


def check_arguments(args: argparse.Namespace) -> None:
    """InputError naming each option out of range."""
    wanted = {
        "--concurrency": (args.concurrency >= 1, "must be at least 1"),
        "--attempts": (args.attempts >= 1, "must be at least 1"),
        "--timeout": (args.timeout > 0, "must be more than 0 seconds"),
        "--stall-timeout": (args.stall_timeout > 0, "must be more than 0 seconds"),
        "--speed-window": (args.speed_window > 0, "must be more than 0 seconds"),
        "--min-speed": (args.min_speed >= 0, "must be 0 (no floor) or more bytes a second"),
    }
    problems = [Problem(option, message) for option, (ok, message) in wanted.items() if not ok]
    if problems:
        raise InputError(problems)


def warm_options(args: argparse.Namespace, upstream_logins: Mapping[str, UpstreamLogin]) -> WarmOptions:
    """The engine's options; a copied upstream logs in with `upstream_logins` (the stack's secrets),
    else with the read-only login the environment names for it (`LOCK_<REGISTRY>_...`)."""
    return WarmOptions(
        concurrency=args.concurrency,
        attestations=args.attestations,
        plain_http=args.plain_http,
        retry=RetryPolicy(attempts=args.attempts, wait_initial=args.retry_wait, timeout=args.retry_timeout),
        limits=Limits(
            stall_timeout=args.stall_timeout, min_speed=args.min_speed, speed_window=args.speed_window
        ).with_timeout(args.timeout),
        login=cache_login,
        upstream_login=lambda registry: (
            upstream_logins.get(registry) or login_from_environment(registry, os.environ)
        ),
    )


def cache_login(url: str) -> CredentialSource | None:
    """The login for a cache that is not ECR, from `REGISTRY_USERNAME` and `REGISTRY_PASSWORD`.

    It goes to the cache's own origin only (see `warm.auth`); ECR hosts log in with
    GetAuthorizationToken instead, so the variables are ignored for them.
    """
    user, password = os.environ.get("REGISTRY_USERNAME"), os.environ.get("REGISTRY_PASSWORD")
    if not user or not password or is_ecr_host(urlsplit(url).hostname or ""):
        return None
    login: Credentials = (user, password)
    return lambda: login
