"""What the cache-warming dynamic provider does, kept out of the provider class itself.

The provider class is pickled by value into Pulumi's state; this module is imported by name when
an operation runs (stacks deployed before the move import it as `components.warm_operations`, a
shim), and its code is the checkout's, not a frozen copy. Nothing here holds a secret: ECR tokens are
fetched with the caller's AWS credentials when needed (`warm.ecr_login`) and never written to state.

Every operation goes through the provider process's one warm engine (`warm.engine.shared_engine`):
one pool per cache origin, one ECR login per registry, one digest order for layers images share.

Why each `WarmedImage` still warms its own image, rather than one resource warming the catalogue
(resolve every manifest, then pull and verify, as the CLI does): a resource per image keeps every
URN and every image's props as existing stacks hold them, so nothing is replaced; one image's
failure fails that resource alone, named, and the next `up` retries only it; and `read`
(refresh) and `delete` (prune) stay per image. A batching resource (a `WarmRun` whose results the
`WarmedImage`s record) would add a resource, give every existing image a new input on its first
`up`, and make `--target` on one image need the run too. What per-image creates cost: the provider
host runs at most 4 operations at once (a 4-thread gRPC pool in pulumi/dynamic/__main__.py), so
`warm.concurrency` above 4 images adds nothing here, and each image is verified right after its
own pull. Both are measured in bench/README.md (`bench/up_path.py`).
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import CreateResult, DiffResult, ReadResult

from components.model.ecr import CachePrefix, EcrRegistry
from components.model.images import parse_image
from components.warm.auth import UpstreamLogin
from components.warm.engine import CopyRoute, SharedEngine, shared_engine
from components.warm.retry_report import report_retries
from components.warm.secret_login import secret_login
from components.warm.targets import WarmResult, WarmTarget
from components.warm.warmer import Warmer

REPLACE_ON = ("source", "cache_reference", "registry_url", "platforms")
OUTPUTS = ("digest", "platforms_warmed", "media_type")


# A copied upstream's login, by registry, from the secret its image's props name (read on first use).
_UPSTREAM_LOGINS: dict[str, UpstreamLogin] = {}


def _upstream_login(registry: str) -> UpstreamLogin | None:
    return _UPSTREAM_LOGINS.get(registry)


def _engine() -> SharedEngine:
    # The provider process runs only these operations: its retries are reported as the CLI's are,
    # instead of as stamina's bare default warnings.
    report_retries()
    return shared_engine(Warmer, _upstream_login)


def copy_image(props: dict[str, Any]) -> WarmResult:
    """A `CopiedImage`: the tag copied from its upstream into the registry, verified, through the
    shared engine; the upstream's login read from the secret the props name, with the deployer's
    AWS credentials (the props hold its name, never its value)."""
    source = parse_image(props["source"])
    prefix = CachePrefix.from_registry_url(props["registry_url"])
    if secret := props.get("credential_secret"):
        registry = EcrRegistry.parse(prefix.registry_host)
        _UPSTREAM_LOGINS[source.registry] = UpstreamLogin(
            secret_login(secret, registry.region if registry else None), props.get("token_realm")
        )
    target = WarmTarget(source=source, repository=props["repository"], tag=props["tag"])
    route = CopyRoute(source.registry, props["upstream_url"], props["registry_url"])
    result = _engine().run(lambda engine: engine.copy_one(route, target))
    if not result.ok:
        raise RuntimeError(f"copying {props['source']} to {props['cache_reference']} failed: {result.error}")
    return result


def warm_image(props: dict[str, Any]) -> WarmResult:
    target = WarmTarget(
        source=parse_image(props["source"]),
        repository=props["repository"],
        tag=props["tag"],
        platforms=tuple(props["platforms"]) if props.get("platforms") else None,
    )

    # A pinned source (`name:tag@digest`) is checked by the warmer, as the CLI's is.
    result = _engine().run(lambda engine: engine.warm_one(props["registry_url"], target))
    if not result.ok:
        raise RuntimeError(
            f"warming {props['source']} through {props['cache_reference']} failed: {result.error}"
        )
    return result


def create(props: dict[str, Any]) -> CreateResult:
    """Warm a `WarmedImage`, or copy a `CopiedImage` (its props name the upstream it comes from)."""
    result = copy_image(props) if props.get("upstream_url") else warm_image(props)
    outs = {
        **props,
        "digest": result.digest,
        "platforms_warmed": result.platforms,
        "media_type": result.media_type,
    }
    return CreateResult(id_=f"{props['cache_reference']}@{result.digest}", outs=outs)


def diff(olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
    """Replace when what is warmed, or where, changes; `prune` alone changes in place."""
    replaces = [key for key in REPLACE_ON if olds.get(key) != news.get(key)]
    changes = bool(replaces) or olds.get("prune") != news.get("prune")
    return DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)


def update(olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    return {**news, **{key: olds.get(key) for key in OUTPUTS}}


def read(id_: str, props: dict[str, Any]) -> ReadResult:
    """`pulumi refresh`: an image the lifecycle policy expired drops out of state, so `up` warms it again."""
    digest = props.get("digest")
    if not digest:
        return ReadResult(id_=None, outs={})

    served = _engine().run(
        lambda engine: engine.head_manifest(props["registry_url"], props["repository"], digest)
    )
    return ReadResult(id_=id_, outs=props) if served == digest else ReadResult(id_=None, outs={})


def delete(props: dict[str, Any]) -> None:
    """Keep cached images by default: deleting a stack must not empty the cache clusters rely on."""
    if not props.get("prune") or not props.get("digest"):
        return
    prefix = CachePrefix.from_registry_url(props["registry_url"])
    registry = EcrRegistry.parse(prefix.registry_host)
    if registry is not None:
        import boto3

        boto3.client("ecr", region_name=registry.region).batch_delete_image(
            repositoryName=prefix.repository(props["repository"]), imageIds=[{"imageDigest": props["digest"]}]
        )
        return
    _engine().run(
        lambda engine: engine.delete_manifest(props["registry_url"], props["repository"], props["digest"])
    )
