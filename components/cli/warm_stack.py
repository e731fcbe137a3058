"""What `warm --stack S` takes from the stack: the cache prefixes to warm through and the copy prefixes
to copy into, in the caller's own account and region as `pulumi up` creates them, and each copied
upstream's login (its Secrets Manager secret, read with the caller's AWS credentials when the
upstream asks for one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.cli.mirrors import Mirror, checked_mirror
from components.model.ecr import CachePrefix, EcrRegistry
from components.warm.auth import UpstreamLogin
from components.warm.secret_login import secret_login

if TYPE_CHECKING:
    from components.config.settings import StackSettings


@dataclass(frozen=True)
class StackRoutes:
    mirrors: list[Mirror]
    copies: list[Mirror]
    upstream_logins: dict[str, UpstreamLogin]


def routes_from_stack(stack: str, settings: StackSettings) -> StackRoutes:
    """The stack's prefixes at the caller's registry (one STS call), and the copies' logins."""
    import boto3

    account = boto3.client("sts", region_name=settings.region).get_caller_identity()["Account"]
    host = EcrRegistry(account, settings.region).host
    source = f"--stack {stack}"
    upstream_prefixes = settings.upstream_prefixes()
    mirrors = [
        checked_mirror(
            upstream,
            CachePrefix(host, prefix).registry_url,
            source,
            upstream_prefix=upstream_prefixes[upstream],
        )
        for upstream, prefix in settings.cache_prefixes().items()
    ]
    copies = [
        checked_mirror(upstream, CachePrefix(host, prefix).registry_url, source)
        for upstream, prefix in settings.copy_prefixes().items()
    ]
    logins = {
        copy.registry: UpstreamLogin(
            secret_login(copy.credential.secret_name, settings.region), copy.token_realm
        )
        for copy in settings.copies
        if copy.credential is not None
    }
    return StackRoutes(mirrors, copies, logins)
