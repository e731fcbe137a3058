"""`python -m components doctor`: arguments, the run against AWS, and the report as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from components.cli.mirrors import add_upstream_argument, upstream_endpoints
from components.program.doctor import diagnose, expected_for
from components.program.doctor_copies import UpstreamAccess
from components.program.doctor_report import (
    CLIENT_CONFIG,
    NO_CREDENTIALS,
    REFUSED_CREDENTIALS,
    AwsClients,
    Report,
    error_code,
    unreachable_endpoint,
)

EXIT_HEALTHY = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2


def render_text(report: Report, *, stack: str, region: str) -> str:
    lines = [f"doctor: stack {stack}, region {region}"]
    lines += [f"ok     {p.check} {p.subject}" for p in report.passed]
    for finding in report.findings:
        mark = "fixed " if finding.fixed else "FIX   "
        lines.append(f"{mark} {finding.check} {finding.subject}: {finding.problem}")
        if not finding.fixed:
            lines.append(f"         what to do: {finding.fix}")
    open_findings = sum(not f.fixed for f in report.findings)
    lines.append("healthy" if report.healthy else f"{open_findings} finding(s) need attention")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default: dev)")
    parser.add_argument("--images", default=None, help="image catalogue (default: the stack's imagesFile)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_upstream_argument(parser)
    parser.add_argument(
        "--fix",
        action="store_true",
        help="apply the templates' policies to cache repositories that lack them, and restore archived "
        "catalogued images",
    )


def who_am_i(session: Any, region: str) -> dict[str, Any] | str:
    """The caller's identity, or what keeps doctor from asking: no credentials, refused ones, or no route."""
    import botocore.exceptions

    try:
        identity: dict[str, Any] = session.client("sts", config=CLIENT_CONFIG).get_caller_identity()
    except NO_CREDENTIALS:
        return (
            "no AWS credentials found; set the deployer's (AWS_PROFILE, `aws sso login`, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    except botocore.exceptions.ClientError as error:
        code = error_code(error)
        if code in REFUSED_CREDENTIALS:
            return f"AWS refused the credentials ({code}); refresh them (`aws sso login`, or new keys)"
        return f"AWS answered {code} to sts:GetCallerIdentity"
    except botocore.exceptions.BotoCoreError as error:
        endpoint = unreachable_endpoint(error)
        if endpoint is None:
            return f"cannot ask AWS who you are ({type(error).__name__})"
        return (
            f"cannot reach AWS at {endpoint}: unreachable ({type(error).__name__}); check the network path "
            f"from here (HTTPS_PROXY, a VPC endpoint, a firewall) and the stack's region {region}"
        )
    return identity


def run(args: argparse.Namespace, clients: AwsClients | None = None) -> int:
    """Exit 0 healthy, 1 findings, 2 bad input (raised as InputError for the CLI's handler) or no AWS access."""
    import boto3

    from components.config.load import load_stack_settings

    settings = load_stack_settings(args.stack, images_file=args.images)
    upstreams = UpstreamAccess(upstream_endpoints(args.upstream), plain_http=True)  # checked: loopback only
    session = boto3.Session(region_name=settings.region)
    identity = who_am_i(session, settings.region)
    if isinstance(identity, str):
        print(f"error: {identity}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if clients is None:
        ecr = session.client("ecr", config=CLIENT_CONFIG)
        clients = AwsClients(
            ecr=ecr,
            secretsmanager=session.client("secretsmanager", config=CLIENT_CONFIG),
            ec2=session.client("ec2", config=CLIENT_CONFIG),
            rules=ecr,
            images=ecr,
        )
    partition = session.get_partition_for_region(settings.region)
    expected = expected_for(settings, partition=partition, account_id=identity["Account"])
    report = diagnose(settings, clients, expected, fix=args.fix, now=datetime.now(UTC), upstreams=upstreams)
    if args.json:
        print(json.dumps({"stack": args.stack, "region": settings.region, **report.as_json()}, indent=2))
    else:
        print(render_text(report, stack=args.stack, region=settings.region))
    return EXIT_HEALTHY if report.healthy else EXIT_FINDINGS
