"""How long and how much the warm accepts from a registry: one policy, with defaults a user sees.

Nothing from the network is trusted, so every request has a total deadline (headers and body,
however slowly they arrive), and every body read has a cap:
- a manifest: 4 MiB. The OCI distribution spec asks registries to accept manifests of at least
  4 MiB (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests),
  and the distribution registry refuses larger ones by default
  (https://github.com/distribution/distribution/blob/main/registry/handlers/manifests.go,
  `maxManifestBodySize`), so no real image needs more;
- a token answer: 1 MiB (a token is a few KiB);
- a blob: the size its manifest declares; reading stops one byte past it. A blob kept in memory
  (an image config, read for its platform) may declare no more than a manifest's cap.
An index may list at most `max_index_manifests` manifests. A `Retry-After` is honoured up to
`max_retry_after` seconds; a registry asking for longer fails the request with how long it asked.
`warm --timeout SECONDS` sets the blob deadline, and caps the others.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    blob_deadline: float = 300.0
    manifest_deadline: float = 60.0
    token_deadline: float = 30.0
    connect_timeout: float = 10.0
    max_manifest_bytes: int = 4 * MiB
    max_token_bytes: int = 1 * MiB
    max_index_manifests: int = 256
    max_retry_after: float = 60.0
    # aiohttp's own default for one header line and field; larger headers fail the request.
    max_header_bytes: int = 8190
    max_redirects: int = 5

    def with_timeout(self, seconds: float) -> Limits:
        """The blob deadline set to `seconds`, and no other deadline longer than it."""
        return dataclasses.replace(
            self,
            blob_deadline=seconds,
            manifest_deadline=min(self.manifest_deadline, seconds),
            token_deadline=min(self.token_deadline, seconds),
            connect_timeout=min(self.connect_timeout, seconds),
        )
