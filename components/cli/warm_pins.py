"""The warm command's reading of the selector lock and its checks after the warm.

`warm` warms what `model.warm_selection` says (the catalogue's tags, and its selectors' tags as
`images.lock.yaml` records them), the signatures of the entries that ask for them, and then reports
each locked digest the cache does not serve and each workload pin (`--manifests`) it does not hold.
Its own digest state (`--state`) is never the selector lock.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from components.model.discovery import FoundImage
from components.model.image_lock import WarmTag, lock_command
from components.model.warm_selection import check_state_file
from components.warm.engine import CopyRoute, Report, WarmEngine
from components.warm.pin_checks import (
    PinFinding,
    held_digests,
    locked_digest_findings,
    served_digests,
    uncached_pin_findings,
)
from components.warm.signatures import copy_signatures, warm_signatures
from components.warm.targets import WarmResult, WarmTarget


def add_pin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state",
        type=Path,
        help="warm's digest state (not images.lock.yaml); unchanged tags are skipped",
    )
    parser.add_argument("--lock", type=Path, help="deprecated: the old name of --state")
    parser.add_argument(
        "--manifests",
        action="append",
        default=[],
        metavar="PATH",
        help="rendered manifests: report digests they pin that the cache does not hold; repeatable",
    )


def state_path(args: argparse.Namespace) -> Path | None:
    """`--state`, or the deprecated `--lock`; never the selector lock that `lock` writes."""
    if args.lock is not None:
        print("warning: --lock is deprecated for warm's state; use --state", file=sys.stderr)
    path: Path | None = args.state or args.lock
    if path is not None:
        check_state_file(path, args.images, option="--state" if args.state else "--lock")
    return path


async def warm_signed(
    engine: WarmEngine,
    grouped: Mapping[str, Sequence[WarmTarget]],
    results: Sequence[WarmResult],
    signed: frozenset[str],
    report: Report,
) -> list[WarmResult]:
    """The signatures and attestations of each image warmed whose entry has `signatures: true`.

    Asked through the client of the image's own cache origin, as the image itself was warmed.
    """
    found: list[WarmResult] = []
    for url, targets in grouped.items():
        sources = {str(target.source) for target in targets} & signed
        images = [r for r in results if str(r.target.source) in sources]
        if images:
            found += await warm_signatures(engine.client(url), images, report)
    return found


async def copy_signed(
    engine: WarmEngine,
    grouped: Mapping[CopyRoute, Sequence[WarmTarget]],
    results: Sequence[WarmResult],
    signed: frozenset[str],
    report: Report,
) -> list[WarmResult]:
    """The signatures and attestations of each image copied whose entry has `signatures: true`,
    found on the image's upstream and copied beside it."""
    found: list[WarmResult] = []
    for route, targets in grouped.items():
        sources = {str(target.source) for target in targets} & signed
        images = [r for r in results if str(r.target.source) in sources]
        if images:
            found += await copy_signatures(
                engine.copier(route.target_url), engine.source(route), images, report
            )
    return found


def pin_findings(
    warm_tags: Sequence[WarmTag],
    results: Sequence[WarmResult],
    workloads: Sequence[FoundImage],
    stack: str | None,
) -> list[PinFinding]:
    """Locked digests the cache does not serve, then digests `workloads` pin that it does not hold."""
    images = {str(tag.entry.ref) for tag in warm_tags}
    served = served_digests([r for r in results if str(r.target.source) in images])
    findings = locked_digest_findings(warm_tags, served, lock_command=lock_command(stack))
    return findings + uncached_pin_findings(workloads, held_digests(results))
