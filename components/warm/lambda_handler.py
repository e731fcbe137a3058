"""Scheduled re-warming: the Lambda function EventBridge Scheduler invokes, one shard per schedule.

Each schedule sends `{"shard": i, "of": n}`. The catalogue travels with the code as JSON
(`CATALOGUE_FILE`, written at `pulumi up` by `components.program.lambda_package`), already
split into `n` shards, so the function needs no config and reads nothing but ECR. It logs in with
GetAuthorizationToken (boto3 ships in the Lambda Python runtime:
https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html), warms its shard through the
same engine as `python -m components warm`, prints one JSON line per image (CloudWatch Logs keeps
the function's stdout), and raises when any image failed, after warming the rest: a failed
invocation is what the dead-letter queue and Lambda's error metrics see.

Imports nothing from Pulumi or the stack settings: only `components.warm`, `components.model.images`
and `components.errors` are packaged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

import pydantic
import stamina

from components.model.ecr import ECR_HOST
from components.model.images import parse_image
from components.warm.auth import CredentialSource, UpstreamLogin
from components.warm.ecr_login import ecr_credentials
from components.warm.engine import CopyRoute, WarmEngine, WarmOptions
from components.warm.errors import BlobNotKept
from components.warm.secret_login import secret_login
from components.warm.stopping import until_stopped
from components.warm.targets import WarmResult, WarmTarget

CATALOGUE_FILE = "scheduled_warming_catalogue.json"
CATALOGUE_VERSION = 1
# Seconds kept back from Lambda's deadline to report what finished and what did not.
REPORT_MARGIN = 20.0
CONCURRENCY = 8

# A registry URL -> the login for it (None: anonymous).
CredentialsFor = Callable[[str], CredentialSource | None]


class PackagedImage(pydantic.BaseModel):
    """One tag of the catalogue as the function warms it; `registry_url` is the cache prefix's URL.

    A copied image (an upstream the pull-through cache does not support) also names where its
    upstream's API answers (`upstream_url`, `https://<host>[/<path>]`), and the Secrets Manager
    secret holding that upstream's login, `{"username", "accessToken"}`, when it needs one, with
    its token service's origin when that is not the upstream's (`token_realm`).
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    source: str
    registry_url: str
    repository: str
    tag: str
    platforms: tuple[str, ...] | None = None
    size_bytes: int | None = pydantic.Field(default=None, ge=0)
    upstream_url: str | None = None
    credential_secret: str | None = None
    token_realm: str | None = None


class PackagedCatalogue(pydantic.BaseModel):
    """The catalogue split into shards; shard `i` is what the schedule sending `{"shard": i}` warms."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    version: int = CATALOGUE_VERSION
    shards: tuple[tuple[PackagedImage, ...], ...]


class ShardEvent(pydantic.BaseModel):
    """What each schedule sends (`input`): its shard, and how many the package was split into."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)

    shard: int = pydantic.Field(ge=0)
    of: int = pydantic.Field(ge=1)


class ShardFailed(Exception):
    """Some images of the shard failed; the message names them. Raised after warming the rest."""


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


# A copy's fields, left out when unset: a catalogue without copies packages as it did before them,
# so existing functions see no change of code.
_COPY_FIELDS = ("upstream_url", "credential_secret", "token_realm")


def render_catalogue(catalogue: PackagedCatalogue) -> str:
    """Stable text, so an unchanged catalogue packages to the same archive."""
    document = catalogue.model_dump(mode="json")
    for shard in document["shards"]:
        for image in shard:
            for name in _COPY_FIELDS:
                if image[name] is None:
                    del image[name]
    return json.dumps(document, sort_keys=True, indent=1) + "\n"


def load_catalogue(path: Path) -> PackagedCatalogue:
    return PackagedCatalogue.model_validate_json(path.read_bytes())


def shard_of(catalogue: PackagedCatalogue, event: Mapping[str, Any]) -> tuple[PackagedImage, ...]:
    """The images of the event's shard; a schedule and a package that disagree on `of` fail loudly."""
    request = ShardEvent.model_validate(event)
    if request.of != len(catalogue.shards) or request.shard >= request.of:
        raise ValueError(
            f"the event asks for shard {request.shard} of {request.of}, but the package holds "
            f"{len(catalogue.shards)} shards; run `pulumi up` so the schedules and the code agree"
        )
    return catalogue.shards[request.shard]


@functools.cache
def _region_login(region: str) -> CredentialSource:
    """One login per region for the life of the execution environment: every prefix shares it, and
    a warm environment reuses the 12-hour token instead of asking ECR again."""
    return ecr_credentials(region)


def ecr_login(registry_url: str) -> CredentialSource | None:
    """GetAuthorizationToken for an ECR registry's region, with the function's role; None elsewhere."""
    region = _region(registry_url)
    return _region_login(region) if region else None


def target_of(image: PackagedImage) -> WarmTarget:
    """No locked digest, on purpose: every run pulls the tag itself, because ECR checks the upstream
    only on a pull (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html)."""
    return WarmTarget(
        source=parse_image(image.source),
        repository=image.repository,
        tag=image.tag,
        platforms=image.platforms,
    )


def _region(registry_url: str) -> str | None:
    match = ECR_HOST.fullmatch(urlsplit(registry_url).hostname or "")
    return match["region"] if match else None


async def warm_images(
    images: Sequence[PackagedImage], credentials_for: CredentialsFor, report: Callable[[WarmResult], None]
) -> None:
    """The one call into the warm engine: warms by cache URL, copies by route, side by side.

    A copy's upstream logs in with the secret its image names, read with the function's role.
    """
    warm: dict[str, list[WarmTarget]] = {}
    copy: dict[CopyRoute, list[WarmTarget]] = {}
    upstream_logins: dict[str, UpstreamLogin] = {}
    for image in images:
        target = target_of(image)
        if image.upstream_url is None:
            warm.setdefault(image.registry_url, []).append(target)
            continue
        route = CopyRoute(target.source.registry, image.upstream_url, image.registry_url)
        copy.setdefault(route, []).append(target)
        if image.credential_secret:
            upstream_logins[route.registry] = UpstreamLogin(
                secret_login(image.credential_secret, _region(image.registry_url)), image.token_realm
            )
    # Plain HTTP only for the local stand-ins on loopback; the client refuses it elsewhere.
    options = WarmOptions(
        concurrency=CONCURRENCY, plain_http=True, login=credentials_for, upstream_login=upstream_logins.get
    )
    async with WarmEngine(options) as engine:
        await asyncio.gather(engine.warm_all(warm, report), engine.copy_all(copy, report))


def describe(result: WarmResult) -> dict[str, Any]:
    """One log line's fields; errors are the engine's own messages, which never hold a credential."""
    line: dict[str, Any] = {"image": str(result.target.source), "ok": result.ok}
    if result.ok:
        line |= {"digest": result.digest, "platforms": result.platforms, "bytes": result.bytes_moved}
        line |= {"blobs": result.blobs, "refetched": result.refetched, "uploaded": result.uploaded}
    else:
        line["error"] = result.error
    return line


async def warm_shard(
    images: Sequence[PackagedImage],
    credentials_for: CredentialsFor,
    deadline: float | None,
    out: TextIO,
) -> dict[str, Any]:
    """Warm (or copy) every image, and report each as it finishes.

    Images still unfinished `deadline` seconds in, or when the runtime stops the function with
    SIGTERM (Lambda sends it before shutting an environment down when an extension is registered,
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-shutdown),
    are reported as failed: a shard that runs out of time says which images it did not reach
    instead of vanishing, and every image that finished was logged as it finished.
    """
    finished: dict[str, dict[str, Any]] = {}

    def report(result: WarmResult) -> None:
        line = describe(result)
        finished[line["image"]] = line
        print(json.dumps(line, sort_keys=True), file=out, flush=True)

    unfinished = None
    try:
        async with asyncio.timeout(deadline):
            _, stopped_by = await until_stopped(warm_images(images, credentials_for, report))
        if stopped_by is not None:
            unfinished = f"not finished: the function was stopped ({stopped_by.name})"
    except TimeoutError:
        unfinished = "not finished before the deadline"
    for image in images if unfinished else ():
        if image.source not in finished:
            report_line = {"image": image.source, "ok": False, "error": unfinished}
            finished[image.source] = report_line
            print(json.dumps(report_line, sort_keys=True), file=out, flush=True)
    failed = sorted(name for name, line in finished.items() if not line["ok"])
    return {
        "images": len(images),
        "warmed": len(images) - len(failed),
        "failed": failed,
        "bytes": sum(line.get("bytes", 0) for line in finished.values()),
    }


def retry_logger(out: TextIO) -> stamina.instrumentation.RetryHook:
    """One JSON line per retried request, instead of stamina's bare `stamina.retry_scheduled`.

    Waiting for the cache to finish storing a blob is not a failure, so it stays quiet.
    """

    def log_retry(details: stamina.instrumentation.RetryDetails) -> None:
        if isinstance(details.caused_by, BlobNotKept):
            return
        reason = str(details.caused_by) or type(details.caused_by).__name__
        line = {"retry": details.retry_num, "wait": round(details.wait_for, 1), "reason": reason}
        print(json.dumps(line, sort_keys=True), file=out, flush=True)

    return log_retry


def run(
    event: Mapping[str, Any],
    catalogue: PackagedCatalogue,
    *,
    credentials_for: CredentialsFor = ecr_login,
    deadline: float | None = None,
    out: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Warm the event's shard; raise `ShardFailed` naming the failed images, after warming the rest."""
    images = shard_of(catalogue, event)
    hooks = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([retry_logger(out)])
    try:
        summary = asyncio.run(warm_shard(images, credentials_for, deadline, out))
    finally:
        stamina.instrumentation.set_on_retry_hooks(hooks)
    request = ShardEvent.model_validate(event)
    summary = {"shard": request.shard, "of": request.of, **summary}
    print(json.dumps({"summary": summary}, sort_keys=True), file=out, flush=True)
    if summary["failed"]:
        shown = ", ".join(summary["failed"][:20])
        more = len(summary["failed"]) - 20
        raise ShardFailed(
            f"{len(summary['failed'])} of {summary['images']} images failed to warm: {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    return summary


def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point (`components.warm.lambda_handler.handler`)."""
    catalogue = load_catalogue(Path(__file__).resolve().parents[2] / CATALOGUE_FILE)
    remaining = context.get_remaining_time_in_millis() / 1000
    return run(event, catalogue, deadline=max(1.0, remaining - REPORT_MARGIN))
