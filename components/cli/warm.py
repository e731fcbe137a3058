"""`python -m components warm`: pull every catalogue tag through the cache, verify, report.

Starts without Pulumi: it imports the catalogue, the registry client and, only for
`--stack`, the settings loader and boto3.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from components.cli.mirrors import Mirror, check_plain_http, checked_mirror, parse_mirror
from components.cli.warm_pins import add_pin_arguments, pin_findings, state_path, warm_signed
from components.errors import InputError, Problem
from components.model.catalogue import CatalogueEntry
from components.model.discovery import FoundImage, find_images
from components.model.ecr import CachePrefix, EcrRegistry, is_ecr_host
from components.model.image_lock import WarmTag
from components.model.images import DEFAULT_TAG
from components.model.warm_selection import catalogue_to_warm
from components.warm.auth import Credentials, CredentialSource
from components.warm.client import RetryPolicy
from components.warm.engine import WarmEngine, WarmOptions
from components.warm.limits import Limits
from components.warm.retry_report import report_retries
from components.warm.state import read_lock, write_lock
from components.warm.warmer import WarmResult, WarmTarget

if TYPE_CHECKING:
    from components.config.settings import StackSettings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def load_settings(stack: str, images_file: str | Path | None = None) -> StackSettings:
    """The stack's settings, checked against the catalogue being warmed, not the stack's default one."""
    from components.config.load import load_stack_settings

    return load_stack_settings(stack, images_file=images_file)


def mirrors_from_stack(
    stack: str, images_file: str | Path | None = None, *, settings: StackSettings | None = None
) -> list[Mirror]:
    """The stack's cache prefixes in the caller's own account and region, as `pulumi up` creates them.

    `settings` are the stack's, when the caller has loaded them already.
    """
    import boto3

    settings = settings or load_settings(stack, images_file)
    account = boto3.client("sts", region_name=settings.region).get_caller_identity()["Account"]
    host = EcrRegistry(account, settings.region).host
    upstream_prefixes = settings.upstream_prefixes()
    return [
        checked_mirror(
            upstream,
            CachePrefix(host, prefix).registry_url,
            f"--stack {stack}",
            upstream_prefix=upstream_prefixes[upstream],
        )
        for upstream, prefix in settings.cache_prefixes().items()
    ]


def _targets(
    entries: Sequence[CatalogueEntry],
    mirrors: Mapping[str, Mirror],
    platforms: tuple[str, ...] | None,
    lock: Mapping[str, Any],
) -> dict[str, list[WarmTarget]]:
    """Targets grouped by mirror URL; every entry's registry must have a mirror."""
    problems = [
        Problem(
            entry.source,
            f"{entry.ref}: no --mirror for registry {entry.ref.registry!r}",
            f"add --mirror {entry.ref.registry}=<cache URL>, or --stack",
            entry.line,
        )
        for entry in entries
        if entry.ref.registry not in mirrors
    ]
    if problems:
        raise InputError(problems)
    grouped: dict[str, list[WarmTarget]] = {}
    for entry in entries:
        mirror = mirrors[entry.ref.registry]
        locked = (lock.get(str(entry.ref)) or {}).get("digest")
        target = WarmTarget(
            source=entry.ref,
            repository=mirror.path_below(entry.ref),
            tag=entry.ref.tag or DEFAULT_TAG,
            platforms=platforms or entry.platforms,
            locked_digest=locked,
        )
        grouped.setdefault(mirror.url, []).append(target)
    return grouped


def _describe(result: WarmResult) -> str:
    source = str(result.target.source)
    if not result.ok:
        return f"FAILED  {source}: {result.error}"
    if result.unchanged:
        return f"ok      {source} {result.digest} (unchanged since the lock)"
    platforms = ",".join(result.platforms) or "-"
    extra = f", {result.refetched} re-fetched" if result.refetched else ""
    return (
        f"ok      {source} {result.digest} {result.media_type} [{platforms}] "
        f"{result.blobs} blobs, {result.bytes_moved} bytes{extra}"
    )


async def warm_catalogue(
    grouped: Mapping[str, list[WarmTarget]],
    args: argparse.Namespace,
    report: Any,
    signed: frozenset[str] = frozenset(),
) -> list[WarmResult]:
    """Every target through the warm engine (one client and one login per cache origin), then the
    signatures and attestations of the images in `signed` (references, as `str(ImageRef)`)."""
    options = WarmOptions(
        concurrency=args.concurrency,
        attestations=args.attestations,
        plain_http=args.plain_http,
        retry=RetryPolicy(attempts=args.attempts, wait_initial=args.retry_wait, timeout=args.retry_timeout),
        limits=Limits().with_timeout(args.timeout),
        login=_cache_login,
    )
    async with WarmEngine(options) as engine:
        results = await engine.warm_all(grouped, report)
        return results + await warm_signed(engine, grouped, results, signed, report)


def _cache_login(url: str) -> CredentialSource | None:
    """The login for a cache that is not ECR, from `REGISTRY_USERNAME` and `REGISTRY_PASSWORD`.

    It goes to the cache's own origin only (see `warm.auth`); ECR hosts log in with
    GetAuthorizationToken instead, so the variables are ignored for them.
    """
    user, password = os.environ.get("REGISTRY_USERNAME"), os.environ.get("REGISTRY_PASSWORD")
    if not user or not password or is_ecr_host(urlsplit(url).hostname or ""):
        return None
    login: Credentials = (user, password)
    return lambda: login


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", default="images.yaml", help="image catalogue (default: images.yaml)")
    parser.add_argument("--mirror", action="append", default=[], metavar="UPSTREAM=URL", help="repeatable")
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
    parser.add_argument("--attempts", type=int, default=6, help="tries per request (default: 6)")
    parser.add_argument(
        "--retry-wait", type=float, default=0.2, help="first backoff in seconds (default: 0.2)"
    )
    parser.add_argument(
        "--retry-timeout", type=float, default=120.0, help="retry budget per request, seconds"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=Limits().blob_deadline,
        metavar="SECONDS",
        help="total deadline of one request, body included; manifests and tokens get at most this "
        f"(default: {Limits().blob_deadline:g})",
    )


@dataclass(frozen=True)
class _Prepared:
    """Everything `warm` reads before its first request, checked."""

    grouped: dict[str, list[WarmTarget]]
    warm_tags: list[WarmTag]
    signed: frozenset[str]
    state: Path | None
    previous: dict[str, dict[str, Any]]
    workloads: list[FoundImage]


def _prepare(args: argparse.Namespace) -> _Prepared:
    """The mirrors, the tags to warm (through the selector lock), the state and the manifests.

    With `--stack`, one load of the stack's settings gives the mirrors, `warm.signatures` and
    the catalogue's tags. Raises InputError for anything that needs fixing.
    """
    if args.concurrency < 1:
        raise InputError([Problem("--concurrency", "must be at least 1")])
    if not args.timeout > 0:
        raise InputError([Problem("--timeout", "must be more than 0 seconds")])
    mirrors = [parse_mirror(text) for text in args.mirror]
    settings = load_settings(args.stack, args.images) if args.stack else None
    if settings is not None:
        mirrors += mirrors_from_stack(args.stack, settings=settings)
    if not mirrors:
        raise InputError(
            [Problem("warm", "no mirror to warm through", "pass --mirror UPSTREAM=URL or --stack")]
        )
    check_plain_http(mirrors, args.plain_http)
    warm_tags = settings.warm_tags() if settings is not None else catalogue_to_warm(args.images)
    entries = [tag.entry for tag in warm_tags]
    state = state_path(args)
    previous = read_lock(state)
    platforms = tuple(sorted(set(args.platform))) if args.platform else None
    return _Prepared(
        grouped=_targets(entries, {m.upstream: m for m in mirrors}, platforms, previous),
        warm_tags=warm_tags,
        signed=frozenset(str(entry.ref) for entry in entries if entry.signatures),
        state=state,
        previous=previous,
        workloads=find_images(args.manifests) if args.manifests else [],
    )


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    started = time.monotonic()
    try:
        prepared = _prepare(args)
    except InputError as error:
        print(f"error: the input needs fixing:\n{error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report_retries()
    total = len(prepared.warm_tags)
    results = _run_with_progress(prepared.grouped, args, out, total=total, signed=prepared.signed)
    if prepared.state is not None:
        images = {str(tag.entry.ref) for tag in prepared.warm_tags}
        write_lock(prepared.state, [r for r in results if str(r.target.source) in images], prepared.previous)
    findings = pin_findings(prepared.warm_tags, results, prepared.workloads, args.stack)
    failed = [r for r in results if not r.ok]
    moved = sum(r.bytes_moved for r in results)
    print(
        f"warmed {len(results) - len(failed)} of {len(results)} images, {moved} bytes, "
        f"in {time.monotonic() - started:.1f}s",
        file=out,
    )
    for result in failed:
        print(f"failed: {result.target.source}: {result.error}", file=out)
    for finding in findings:
        print(f"pin:    {finding}", file=out)
    return EXIT_FAILED if failed or findings else EXIT_OK


def _run_with_progress(
    grouped: Mapping[str, list[WarmTarget]],
    args: argparse.Namespace,
    out: TextIO,
    total: int,
    signed: frozenset[str] = frozenset(),
) -> list[WarmResult]:
    """A rich progress bar on a terminal; one plain line per image otherwise (logs, CI)."""
    if not out.isatty():

        def line(result: WarmResult) -> None:
            print(_describe(result), file=out, flush=True)

        return asyncio.run(warm_catalogue(grouped, args, line, signed))
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=out)
    with Progress(
        TextColumn("warming"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("warm", total=total)

        def report(result: WarmResult) -> None:
            if not result.ok:
                progress.console.print(_describe(result), markup=False, highlight=False)
            progress.advance(task)

        return asyncio.run(warm_catalogue(grouped, args, report, signed))
