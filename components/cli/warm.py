"""`python -m components warm`: pull every catalogue tag through the cache, verify, report.

Starts without Pulumi: it imports the catalogue, the registry client and, only for
`--stack`, the settings loader and boto3.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from components.cli.mirrors import check_plain_http, check_token_realms, parse_mirror
from components.cli.warm_options import add_arguments, check_arguments, warm_options
from components.cli.warm_pins import copy_signed, pin_findings, state_path, warm_signed
from components.cli.warm_stack import routes_from_stack
from components.cli.warm_targets import WarmWork, describe, plan_work
from components.errors import InputError, Problem
from components.model.discovery import FoundImage, find_images
from components.model.image_lock import WarmTag
from components.model.warm_selection import catalogue_to_warm
from components.warm.auth import UpstreamLogin
from components.warm.engine import WarmEngine
from components.warm.retry_report import report_retries
from components.warm.state import StateFile, StateWriter
from components.warm.stopping import exit_code, until_stopped
from components.warm.targets import WarmResult

if TYPE_CHECKING:
    from components.config.settings import StackSettings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
__all__ = ["add_arguments", "run"]


def load_settings(stack: str, images_file: str | Path | None = None) -> StackSettings:
    """The stack's settings, checked against the catalogue being warmed, not the stack's default one."""
    from components.config.load import load_stack_settings

    return load_stack_settings(stack, images_file=images_file)


async def warm_catalogue(
    work: WarmWork,
    args: argparse.Namespace,
    report: Callable[[WarmResult], None],
    signed: frozenset[str] = frozenset(),
    upstream_logins: Mapping[str, UpstreamLogin] | None = None,
) -> list[WarmResult]:
    """Every target through the warm engine (one client and one login per registry origin), warms
    and copies side by side, then the signatures and attestations of the images in `signed`
    (references, as `str(ImageRef)`). A copied upstream logs in with `upstream_logins` (the
    stack's secrets), else from the environment (`LOCK_<REGISTRY>_...`)."""
    async with WarmEngine(warm_options(args, upstream_logins or {})) as engine:
        warmed, copied = await asyncio.gather(
            engine.warm_all(work.warm, report), engine.copy_all(work.copy, report)
        )
        artifacts = await asyncio.gather(
            warm_signed(engine, work.warm, warmed, signed, report),
            copy_signed(engine, work.copy, copied, signed, report),
        )
        return [*warmed, *copied, *artifacts[0], *artifacts[1]]


@dataclass(frozen=True)
class _Prepared:
    """Everything `warm` reads before its first request, checked."""

    work: WarmWork
    upstream_logins: dict[str, UpstreamLogin]
    warm_tags: list[WarmTag]
    signed: frozenset[str]
    state: StateFile | None
    state_problem: str | None  # why the state file was ignored
    workloads: list[FoundImage]


def _prepare(args: argparse.Namespace) -> _Prepared:
    """The mirrors, the tags to warm (through the selector lock), the state and the manifests.

    With `--stack`, one load of the stack's settings gives the mirrors, `warm.signatures` and
    the catalogue's tags. Raises InputError for anything that needs fixing; a state file it
    cannot read is not that (see `warm.state`).
    """
    check_arguments(args)
    check_token_realms(os.environ)
    mirrors = [parse_mirror(text) for text in args.mirror]
    copies = [parse_mirror(text, "--copy") for text in args.copy]
    upstreams = [parse_mirror(text, "--upstream") for text in args.upstream]
    settings = load_settings(args.stack, args.images) if args.stack else None
    logins: dict[str, UpstreamLogin] = {}
    if settings is not None:
        routes = routes_from_stack(args.stack, settings)
        mirrors, copies, logins = mirrors + routes.mirrors, copies + routes.copies, routes.upstream_logins
    if not mirrors and not copies:
        raise InputError(
            [
                Problem(
                    "warm",
                    "no mirror to warm through, and no copy to make",
                    "pass --mirror UPSTREAM=URL, --copy UPSTREAM=URL or --stack",
                )
            ]
        )
    for urls, option in ((mirrors, "--mirror"), (copies, "--copy"), (upstreams, "--upstream")):
        check_plain_http(urls, args.plain_http, option)
    warm_tags = settings.warm_tags() if settings is not None else catalogue_to_warm(args.images)
    entries = [tag.entry for tag in warm_tags]
    path = state_path(args)
    state = StateFile(path) if path is not None else None
    problem = state.load() if state is not None else None
    platforms = tuple(sorted(set(args.platform))) if args.platform else None
    return _Prepared(
        work=plan_work(
            entries,
            mirrors={m.upstream: m for m in mirrors},
            copies={c.upstream: c for c in copies},
            upstreams={u.upstream: u.url for u in upstreams},
            platforms=platforms,
            state=state.entries if state else {},
        ),
        upstream_logins=logins,
        warm_tags=warm_tags,
        signed=frozenset(str(entry.ref) for entry in entries if entry.signatures),
        state=state,
        state_problem=problem,
        workloads=find_images(args.manifests) if args.manifests else [],
    )


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Warm, recording each finished image in the state as it finishes; on SIGINT or SIGTERM, stop,
    record what finished and report it (`warm.stopping`)."""
    started = time.monotonic()
    try:
        prepared = _prepare(args)
    except InputError as error:
        print(f"error: the input needs fixing:\n{error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report_retries()
    writer = None
    if prepared.state is not None:
        if prepared.state_problem is not None:
            print(
                f"warning: {prepared.state.path}: {prepared.state_problem}; ignoring it: every tag is "
                "warmed, and the file replaced",
                file=sys.stderr,
            )
        writer = StateWriter(prepared.state, frozenset(str(tag.entry.ref) for tag in prepared.warm_tags))
    finished: list[WarmResult] = []

    def record(result: WarmResult) -> None:
        finished.append(result)
        if writer is not None:
            writer.record(result)

    results, stopped_by = _run_with_progress(prepared, args, out, record=record)
    if writer is not None:
        writer.finish()
    results = finished if results is None else results
    return _summarize(prepared, args, results, out, started, stopped_by, writer)


def _summarize(
    prepared: _Prepared,
    args: argparse.Namespace,
    results: Sequence[WarmResult],
    out: TextIO,
    started: float,
    stopped_by: signal.Signals | None,
    writer: StateWriter | None,
) -> int:
    findings = pin_findings(prepared.warm_tags, results, prepared.workloads, args.stack)
    failed = [r for r in results if not r.ok]
    moved = sum(r.bytes_moved for r in results)
    verb = {(True, False): "warmed", (False, True): "copied"}.get(
        (bool(prepared.work.warm), bool(prepared.work.copy)), "warmed and copied"
    )
    print(
        f"{verb} {len(results) - len(failed)} of {len(results)} images, {moved} bytes, "
        f"in {time.monotonic() - started:.1f}s",
        file=out,
    )
    for result in failed:
        print(f"failed: {result.target.source}: {result.error}", file=out)
    for finding in findings:
        print(f"pin:    {finding}", file=out)
    if writer is not None and writer.failure is not None:
        print(f"state:  {writer.failure}; the previous state file is unchanged", file=out)
    if stopped_by is not None:
        catalogue = {str(tag.entry.ref) for tag in prepared.warm_tags}
        done = len(catalogue & {str(r.target.source) for r in results})
        recorded = "" if writer is None else "; the state holds those that finished"
        print(
            f"stopped by {stopped_by.name}: {len(catalogue) - done} of {len(catalogue)} images not finished{recorded}",
            file=out,
            flush=True,
        )
        return exit_code(stopped_by)
    state_failed = writer is not None and writer.failure is not None
    return EXIT_FAILED if failed or findings or state_failed else EXIT_OK


def _run_with_progress(
    prepared: _Prepared,
    args: argparse.Namespace,
    out: TextIO,
    record: Callable[[WarmResult], None],
) -> tuple[list[WarmResult] | None, signal.Signals | None]:
    """A rich progress bar on a terminal; one plain line per image otherwise (logs, CI). The
    results, or None and the signal that stopped the warm."""

    def warm(report: Callable[[WarmResult], None]) -> tuple[list[WarmResult] | None, signal.Signals | None]:
        work = warm_catalogue(prepared.work, args, report, prepared.signed, prepared.upstream_logins)
        return asyncio.run(until_stopped(work))

    if not out.isatty():

        def line(result: WarmResult) -> None:
            record(result)
            print(describe(result), file=out, flush=True)

        return warm(line)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=out)
    with Progress(
        TextColumn("warming"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("warm", total=len(prepared.warm_tags))

        def report(result: WarmResult) -> None:
            record(result)
            if not result.ok or result.moved_from is not None:
                progress.console.print(describe(result), markup=False, highlight=False)
            progress.advance(task)

        return warm(report)
