"""`python -m components`: validate, plan and warm, offline-first.

Each command imports only what it needs, so `warm` starts without Pulumi.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _validate(args: argparse.Namespace) -> int:
    from components.settings import load_stack_settings

    settings = load_stack_settings(args.stack, images_file=args.images)
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"stack {args.stack}: {len(settings.rules)} cache rules, {len(settings.images)} images, "
        f"region {settings.region}: valid"
    )
    for command in settings.missing_secrets:
        print(f"note: secret not set; before `pulumi up` run: {command}")
    return EXIT_OK


def _plan(args: argparse.Namespace) -> int:
    from components.plan import plan_stack, render_text

    plan = plan_stack(args.stack, images_file=args.images)
    if args.json:
        print(json.dumps(plan.as_json(), indent=2, sort_keys=True))
        for note in plan.notes:
            print(f"note: {note}", file=sys.stderr)
    else:
        print(render_text(plan))
    return EXIT_OK


def _warm(args: argparse.Namespace) -> int:
    from components.warm_command import run

    return run(args)


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Only `warm` loads the registry client, so `validate` and `plan` start without httpx."""
    parser = argparse.ArgumentParser(prog="python -m components", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("validate", "check the stack settings and the image catalogue offline"),
        ("plan", "show what `pulumi up` would register, offline, under Pulumi's mock runtime"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default: dev)"
        )
        command.add_argument(
            "--images", default=None, help="image catalogue (default: the stack's imagesFile)"
        )
        if name == "plan":
            command.add_argument("--json", action="store_true", help="print one JSON object")
    warm = commands.add_parser("warm", help="pull every catalogue tag through the cache, and verify")
    if "warm" in argv:
        from components.warm_command import add_arguments

        add_arguments(warm)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(argv).parse_args(argv)
    from components.errors import BadInputError

    handlers = {"validate": _validate, "plan": _plan, "warm": _warm}
    try:
        return handlers[args.command](args)
    except BadInputError as error:
        print(f"error: the input needs fixing:\n{error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
