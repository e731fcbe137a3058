"""`python -m components`: validate, plan and warm, offline-first; doctor checks a deployed stack;
lock resolves the catalogue's tag selectors; discover compares rendered manifests with it; rewrite
points their images at the cache.

Each command imports only what it needs, so `warm` and `lock` start without Pulumi.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


def _validate(args: argparse.Namespace) -> int:
    from components.config.load import load_stack_settings

    settings = load_stack_settings(args.stack, images_file=args.images)
    warm_tags = settings.warm_tags()  # a selector without its lock entry is bad input here
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    locked = sum(1 for tag in warm_tags if tag.digest is not None)
    copies = f", {len(settings.copies)} copied upstreams" if settings.copies else ""
    print(
        f"stack {args.stack}: {len(settings.rules)} cache rules{copies}, {len(settings.images)} images, "
        f"region {settings.region}: valid"
    )
    if locked:
        print(f"{len(warm_tags)} tags to warm, {locked} of them from {settings.lock_path.name}")
    for command in settings.missing_secrets:
        print(f"note: secret not set; before `pulumi up` run: {command}")
    return EXIT_OK


def _plan(args: argparse.Namespace) -> int:
    from components.program.plan import plan_stack, render_text

    plan = plan_stack(args.stack, images_file=args.images)
    if args.json:
        print(json.dumps(plan.as_json(), indent=2, sort_keys=True))
        for note in plan.notes:
            print(f"note: {note}", file=sys.stderr)
    else:
        print(render_text(plan))
    return EXIT_OK


def _warm(args: argparse.Namespace) -> int:
    from components.cli.warm import run

    return run(args)


def _doctor(args: argparse.Namespace) -> int:
    from components.cli.doctor import run

    return run(args)


def _lock(args: argparse.Namespace) -> int:
    from components.cli.lock import lock_endpoints, run
    from components.warm.tags import UpstreamTags, UpstreamTagSource

    with UpstreamTagSource(UpstreamTags(endpoints=lock_endpoints(args))) as source:
        return run(args, lambda: source)


def _discover(args: argparse.Namespace) -> int:
    from components.cli.discover import run

    return run(args)


def _rewrite(args: argparse.Namespace) -> int:
    from components.cli.rewrite import run

    return run(args)


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Only `warm` loads the registry client, so `validate` and `plan` start without httpx."""
    parser = argparse.ArgumentParser(prog="python -m components", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    # Also accepted after the command; SUPPRESS keeps a subcommand from resetting the global value.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("validate", "check the stack settings and the image catalogue offline"),
        ("plan", "show what `pulumi up` would register, offline, under Pulumi's mock runtime"),
    ):
        command = commands.add_parser(name, help=help_text, parents=[common])
        command.add_argument(
            "--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default: dev)"
        )
        command.add_argument(
            "--images", default=None, help="image catalogue (default: the stack's imagesFile)"
        )
        if name == "plan":
            command.add_argument("--json", action="store_true", help="print one JSON object")
    warm = commands.add_parser(
        "warm", help="pull every catalogue tag through the cache, and verify", parents=[common]
    )
    if "warm" in argv:
        from components.cli.warm import add_arguments

        add_arguments(warm)
    doctor = commands.add_parser("doctor", help="check the deployed cache with your AWS credentials")
    if "doctor" in argv:
        from components.cli.doctor import add_arguments as add_doctor_arguments

        add_doctor_arguments(doctor)
    lock = commands.add_parser(
        "lock", help="resolve tag selectors into images.lock.yaml, from the upstreams", parents=[common]
    )
    if "lock" in argv:
        from components.cli.lock import add_arguments as add_lock_arguments

        add_lock_arguments(lock)
    discover = commands.add_parser(
        "discover", help="list the images rendered manifests run, against the catalogue", parents=[common]
    )
    if "discover" in argv:
        from components.cli.discover import add_arguments as add_discover_arguments

        add_discover_arguments(discover)
    rewrite = commands.add_parser(
        "rewrite",
        help="point rendered manifests' images at the cache (EKS Auto Mode, Fargate)",
        parents=[common],
    )
    if "rewrite" in argv:
        from components.cli.rewrite import add_arguments as add_rewrite_arguments

        add_rewrite_arguments(rewrite)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the last resort between any exception and the user.

    Input errors print their problems (exit 2); anything else prints one line (exit 1), with the
    traceback only under `--debug`, so no user ever gets a traceback they cannot act on.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    from components.errors import BadInputError
    from components.redaction import redact_userinfo

    handlers = {
        "validate": _validate,
        "plan": _plan,
        "warm": _warm,
        "doctor": _doctor,
        "lock": _lock,
        "discover": _discover,
        "rewrite": _rewrite,
    }
    try:
        args = _parser(argv).parse_args(argv)
        debug = args.debug
        return handlers[args.command](args)
    except BadInputError as error:
        print(f"error: the input needs fixing:\n{error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if debug:
            print(redact_userinfo(traceback.format_exc()), file=sys.stderr, end="")
        message = " ".join(redact_userinfo(str(error)).split())
        hint = "" if debug else " (run again with --debug for the traceback)"
        print(f"error: {type(error).__name__}: {message}{hint}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
