"""`warm.schedule` wired: the catalogue as the function warms it, split into shards, packaged, deployed.

The program owns what needs files, pip or the engine: it builds the code archive (a placeholder under
the offline plan and the mock tests, the real package under the Pulumi engine) and hands it to the
`ScheduledWarming` component with plain values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from components.config.settings import StackSettings
from components.model.images import DEFAULT_TAG
from components.policies.scheduled_warming import shard_catalogue
from components.program import engine
from components.program.lambda_package import (
    ARCHITECTURE,
    HANDLER,
    LAMBDA_RUNTIME,
    PackagingError,
    code_archive,
)
from components.resources.scheduled_warming import FunctionCode, ScheduledWarming, ScheduledWarmingArgs
from components.resources.warming import WarmSpec
from components.warm.lambda_handler import PackagedCatalogue, PackagedImage

COMPONENT_NAME = "warm-schedule"


def scheduled_images(
    specs: Sequence[WarmSpec], sizes: Mapping[str, int] | None = None
) -> list[PackagedImage]:
    """The catalogue as the function warms it; `sizes` maps a catalogue reference to its bytes, when known."""
    sizes = sizes or {}
    return [
        PackagedImage(
            source=str(spec.entry.ref),
            registry_url=spec.registry_url,
            repository=spec.path,
            tag=spec.entry.ref.tag or DEFAULT_TAG,
            platforms=tuple(spec.entry.platforms) if spec.entry.platforms else None,
            size_bytes=sizes.get(str(spec.entry.ref)),
            # A copy also says where its upstream is read, and with which login.
            upstream_url=spec.copy.upstream_url if spec.copy is not None else None,
            credential_secret=spec.copy.credential_secret if spec.copy is not None else None,
            token_realm=spec.copy.token_realm if spec.copy is not None else None,
        )
        for spec in specs
    ]


def packaged_catalogue(images: Sequence[PackagedImage]) -> PackagedCatalogue:
    """The images split into shards that each fit Lambda's time limit, as the function reads them."""
    return PackagedCatalogue(shards=shard_catalogue(images))


def function_code(catalogue: PackagedCatalogue, *, placeholder: bool) -> FunctionCode:
    """The packaged code; pip failing under `pulumi up` stops the run with pip's answer, not a traceback."""
    try:
        archive = code_archive(catalogue, placeholder=placeholder)
    except PackagingError as error:
        # pulumi.RunError: Pulumi's documented way to end a program cleanly (pulumi/errors.py).
        raise pulumi.RunError(str(error)) from None
    return FunctionCode(
        archive=archive,
        handler=HANDLER,
        runtime=LAMBDA_RUNTIME,
        architecture=ARCHITECTURE,
    )


def scheduled_warming(
    settings: StackSettings,
    specs: Sequence[WarmSpec],
    *,
    partition: str,
    account_id: str,
    depends_on: Sequence[pulumi.Resource],
) -> ScheduledWarming | None:
    """The re-warming component (its function, its dead-letter queue), or None without a `warm.schedule`.

    `depends_on`: the rules, templates and copy logins, so the first scheduled run finds them in place.
    """
    schedule = settings.warm.schedule
    if schedule is None:
        return None
    catalogue = packaged_catalogue(scheduled_images(specs))
    rewarming = ScheduledWarming(
        COMPONENT_NAME,
        ScheduledWarmingArgs(
            schedule=schedule,
            timezone=settings.warm.schedule_timezone,
            shards=len(catalogue.shards),
            code=function_code(catalogue, placeholder=engine.is_offline()),
            prefixes=[rule.prefix for rule in settings.rules],
            partition=partition,
            region=settings.region,
            account_id=account_id,
            tags_new_repositories=bool(settings.templates.resource_tags),
            copy_prefixes=[copy.prefix for copy in settings.copies],
            copy_secrets=[
                copy.credential.secret_name for copy in settings.copies if copy.credential is not None
            ],
        ),
        opts=pulumi.ResourceOptions(depends_on=list(depends_on)),
    )
    return rewarming
