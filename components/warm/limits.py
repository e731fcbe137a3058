"""How long and how much the warm accepts from a registry: one policy, with defaults a user sees.

Nothing from the network is trusted. Small answers have a total deadline, however slowly they
arrive: a manifest or a tag list 60 s, a token 30 s. A blob's body cannot: a 3 GiB layer on a
steady 1 MiB/s link needs 50 minutes, while a connection that went silent should be dropped in
seconds. So a blob request has a total deadline for its headers (`header_deadline`: the login,
the redirects and the answer's head, so a slowloris answer still ends), and its body is limited
by progress only (`progress.BodyProgress`): an attempt fails when no byte arrives for
`stall_timeout` seconds, or when fewer than `min_speed` bytes a second arrive on average over a
`speed_window` (curl's low-speed limit, https://curl.se/docs/manpage.html#-y). A stalled
attempt is tried once more on a new connection (`client.RetryPolicy.stalled_attempts`).

The defaults, and what others use:
- pip drops a connection silent for 15 s (`--timeout`, a socket read timeout,
  https://pip.pypa.io/en/stable/cli/pip/#cmdoption-timeout);
- kubelet cancelled a pull with no progress for 1 minute (`--image-pull-progress-deadline`, the
  dockershim era); containerd's CRI cancels one after 5 minutes without data
  (`image_pull_progress_timeout`, https://github.com/containerd/containerd/blob/main/docs/cri/config.md);
- curl has no low-speed limit unless asked (`--speed-time` alone means 1 byte/s);
- skopeo sets no body timeout at all.
The warm walks a whole catalogue, so it drops a dead connection sooner than a node does (30 s,
between pip and kubelet), and calls a link alive at 1 KiB/s, far below any layer a cluster can
wait for but above a connection that merely trickles: an answer of a byte every 20 s fails its
attempt at 30 s, both attempts within about a minute.

Caps: a manifest 4 MiB (the OCI distribution spec asks registries to accept manifests of at
least 4 MiB, https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests,
and the distribution registry refuses larger ones by default,
https://github.com/distribution/distribution/blob/main/registry/handlers/manifests.go,
`maxManifestBodySize`); a token answer 1 MiB (a token is a few KiB); a blob the size its manifest
declares (reading stops one byte past it); a blob kept in memory (an image config, read for its
platform) no more than a manifest. An index may list at most `max_index_manifests` manifests.
A `Retry-After` is honoured up to `max_retry_after` seconds; a registry asking for longer fails
the request with how long it asked. `warm --timeout SECONDS` sets the total deadlines of small
answers and of any answer's headers; `--stall-timeout`, `--min-speed` and `--speed-window` set
the progress limits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class Limits:
    header_deadline: float = 60.0
    manifest_deadline: float = 60.0
    token_deadline: float = 30.0
    connect_timeout: float = 10.0
    stall_timeout: float = 30.0
    min_speed: int = 1 * KiB  # bytes a second, on average over each `speed_window`
    speed_window: float = 30.0
    max_manifest_bytes: int = 4 * MiB
    max_token_bytes: int = 1 * MiB
    max_index_manifests: int = 256
    max_retry_after: float = 60.0
    # aiohttp's own default for one header line and field; larger headers fail the request.
    max_header_bytes: int = 8190
    max_redirects: int = 5

    def with_timeout(self, seconds: float) -> Limits:
        """The total deadlines (headers, manifests) set to `seconds`, and none of the others longer."""
        return dataclasses.replace(
            self,
            header_deadline=seconds,
            manifest_deadline=seconds,
            token_deadline=min(self.token_deadline, seconds),
            connect_timeout=min(self.connect_timeout, seconds),
        )
