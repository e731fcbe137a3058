"""An offline plan: run the real `__main__.py` under Pulumi's mock runtime.

No Pulumi CLI, no AWS credentials, no network. The mocks answer the few data
sources the program reads (caller identity, partition, an existing secret, a
network stack's outputs) with stand-ins, and record every resource the program
registers. Secret values print as `[secret]`; the stack file's ciphertext is
never read into the run (see components/config/source.py).
"""

from __future__ import annotations

import asyncio
import json
import re
import runpy
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

# Internals, each the only way: a monitor sees wire protos (rpc's (de)serializers); MockMonitor is the
# monitor `set_mocks(monitor=)` takes, and only a monitor sees parents, aliases and dependencies;
# run_pulumi_func and _sync_await run `runpy` of __main__.py to completion on the plan's own event loop
# (pulumi.runtime.test wraps a function returning Outputs, not a script).
from pulumi.runtime import get_root_resource, reset_options, rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.config.load import load_stack_settings
from components.config.settings import StackSettings
from components.config.source import PROJECT, PROJECT_ROOT, SECRET_PLACEHOLDER
from components.errors import InputError, Problem
from components.model.arns import Arn
from components.program import engine

PLAN_ACCOUNT_ID = "123456789012"
SERIALIZED_PROVIDER = "[serialized dynamic provider]"
PLAN_ECR_PASSWORD = "plan-stand-in-ecr-password"
NETWORK_STACK_STAND_INS: Mapping[str, Any] = {
    "vpcId": "vpc-0fedcba9876543210",
    "vpcCidrs": ["10.0.0.0/16"],
    "privateSubnetIds": ["subnet-0fedcba9876543211", "subnet-0fedcba9876543212", "subnet-0fedcba9876543213"],
    "privateRouteTableIds": ["rtb-0fedcba9876543211", "rtb-0fedcba9876543212", "rtb-0fedcba9876543213"],
}


@dataclass
class PlannedResource:
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)
    urn: str = ""
    alias_urns: list[str] = field(default_factory=list)
    delete_before_replace: bool = False

    def as_json(self) -> dict[str, Any]:
        aliases = sorted({urn.rsplit("::", 1)[-1] for urn in self.alias_urns})
        return {
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "aliases": aliases,
            "inputs": self.inputs,
        }


@dataclass
class Plan:
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    duplicate_urns: list[str] = field(default_factory=list)

    def sorted_resources(self) -> list[PlannedResource]:
        """Registration order depends on async scheduling; components first, then by parent and name."""
        return sorted(self.resources, key=lambda r: (r.parent is not None, r.parent or "", r.type, r.name))

    def as_json(self) -> dict[str, Any]:
        return {"resources": [r.as_json() for r in self.sorted_resources()], "outputs": self.outputs}


def _masked(value: Any) -> Any:
    """Inputs as a plan shows them: secrets as `[secret]`, empty values dropped, pickles elided."""
    if rpc.is_rpc_secret(value):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {
            k: SERIALIZED_PROVIDER if k == "__provider" else _masked(v)
            for k, v in sorted(value.items())
            if v not in (None, [], {}, "")
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return _asset(value)
    return value


def _asset(value: pulumi.Asset | pulumi.Archive) -> dict[str, Any]:
    """An asset or archive (a Lambda function's code) as JSON: its files, each string's text or file's path."""
    if isinstance(value, pulumi.AssetArchive):
        return {"assets": {name: _masked(asset) for name, asset in sorted(value.assets.items())}}
    if isinstance(value, pulumi.StringAsset):
        return {"text": value.text}
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        return {"path": str(value.path)}
    return {"uri": str(getattr(value, "uri", type(value).__name__))}


# `aws:ecr/pullThroughCacheRule:PullThroughCacheRule`: package, module (its service), resource.
_TYPE_TOKEN = re.compile(r"[^:]+:(?P<service>[^:/]+)(?:/[^:]*)?:.+")


def _service_of(type_token: str) -> str:
    match = _TYPE_TOKEN.fullmatch(type_token)
    return match["service"] if match else type_token


class StandInMocks(Mocks):
    """Answers data sources with stand-ins and gives each resource a plausible id and ARN."""

    def __init__(self, settings: StackSettings) -> None:
        self.region = settings.region
        self.network_outputs = _network_stand_ins(settings)

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{PLAN_ACCOUNT_ID}:user/plan"
            return {"accountId": PLAN_ACCOUNT_ID, "arn": arn, "userId": "PLAN", "id": PLAN_ACCOUNT_ID}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            }, []
        if args.token == "aws:secretsmanager/getSecret:getSecret":
            name = args.args.get("name") or Arn.parse(args.args["arn"]).secret_name
            arn = (
                args.args.get("arn")
                or f"arn:aws:secretsmanager:{self.region}:{PLAN_ACCOUNT_ID}:secret:{name}-AbCdEf"
            )
            return {"arn": arn, "name": name, "id": arn, "kmsKeyId": ""}, []
        if args.token == "aws:kms/getKey:getKey":
            key_id = args.args["keyId"]
            return {"keyId": key_id, "id": key_id, "keyManager": "AWS"}, []
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            endpoint = f"https://{PLAN_ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com"
            login = {"userName": "AWS", "password": PLAN_ECR_PASSWORD, "proxyEndpoint": endpoint}
            return {**login, "authorizationToken": "", "expiresAt": "", "id": self.region}, []
        return {}, []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            return args.name, {**args.inputs, "outputs": dict(self.network_outputs), "secretOutputNames": []}
        service = _service_of(args.typ)
        state = dict(args.inputs)
        state.setdefault("arn", f"arn:aws:{service}:{self.region}:{PLAN_ACCOUNT_ID}:{args.name}")
        # An auto-named resource's name (the engine adds a random suffix): what `.name` references show.
        state.setdefault("name", args.name)
        return f"{args.name}-id", state


class _RecordingMonitor(MockMonitor):
    """Keeps what a plan shows that the mocks are not told: each resource's parent."""

    def __init__(self, mocks: Mocks, plan: Plan) -> None:
        super().__init__(mocks)
        self.plan = plan
        self._registered: set[str] = set()
        # The SDK registers resources from several threads at once: check and record under one lock.
        self._lock = threading.Lock()

    def _transformed(self, request: Any) -> None:
        """Apply the stack's transforms to the inputs, as the engine would.

        The mock monitor records stack transforms in `_stack_transforms` but never runs them
        (pulumi/runtime/mocks.py, `RegisterStackTransform`); no public API runs them under mocks.
        """
        if not self._stack_transforms or request.type == "pulumi:pulumi:Stack":
            return
        props = rpc.deserialize_properties(request.object)
        for transform in self._stack_transforms:
            args = pulumi.ResourceTransformArgs(
                request.custom, request.type, request.name, props, pulumi.ResourceOptions()
            )
            result = transform(args)
            if isinstance(result, pulumi.ResourceTransformResult):
                props = dict(result.props)
        request.object.CopyFrom(_sync_await(rpc.serialize_properties(props, {})))

    def RegisterResource(self, request: Any) -> Any:
        self._transformed(request)
        urn = self.make_urn(request.parent, request.type, request.name)
        with self._lock:
            if urn in self._registered:
                # The engine refuses a second registration of one URN at preview; the mocks would overwrite it.
                self.plan.duplicate_urns.append(urn)
            self._registered.add(urn)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            parent = request.parent.split("::")[-1] if request.parent else None
            if parent == f"{PROJECT}-{pulumi.get_stack()}":
                parent = None
            inputs = rpc.deserialize_properties(request.object)
            depends_on = sorted(urn.split("::")[-1] for urn in request.dependencies)
            aliases = [
                self.make_urn(
                    alias.spec.parentUrn or request.parent, alias.spec.type or request.type, alias.spec.name
                )
                for alias in request.aliases
                if alias.HasField("spec") and alias.spec.name
            ]
            aliases += [alias.urn for alias in request.aliases if alias.HasField("urn")]
            self.plan.resources.append(
                PlannedResource(
                    request.type,
                    request.name,
                    parent,
                    _masked(inputs),
                    depends_on,
                    urn=response.urn,
                    alias_urns=aliases,
                    delete_before_replace=bool(request.deleteBeforeReplace),
                )
            )
        return response


def _network_stand_ins(settings: StackSettings) -> dict[str, Any]:
    keys = settings.endpoints.network_stack
    if keys is None:
        return {}
    return {
        keys.vpc_id_output: NETWORK_STACK_STAND_INS["vpcId"],
        keys.vpc_cidrs_output: NETWORK_STACK_STAND_INS["vpcCidrs"],
        keys.subnet_ids_output: NETWORK_STACK_STAND_INS["privateSubnetIds"],
        keys.route_table_ids_output: NETWORK_STACK_STAND_INS["privateRouteTableIds"],
    }


def _resolved_outputs() -> dict[str, Any]:
    stack = get_root_resource()
    exported: dict[str, Any] = dict(getattr(stack, "outputs", {}))

    async def resolve() -> dict[str, Any]:
        resolved: dict[str, Any] = {}
        for name, value in exported.items():
            output = pulumi.Output.from_input(value)
            secret = await output.is_secret()
            plain = await output.future()
            resolved[name] = SECRET_PLACEHOLDER if secret else plain
        return resolved

    return _sync_await(resolve())


def run_plan(
    settings: StackSettings,
    stack: str,
    main: Path = PROJECT_ROOT / "__main__.py",
    mocks: Mocks | None = None,
) -> Plan:
    """Run the program once under mocks and return what it would register and export."""
    plan = Plan(notes=[*settings.warnings])
    plan.notes += [
        f"secret not set; before `pulumi up` run: {command}" for command in settings.missing_secrets
    ]
    if settings.endpoints.enabled and settings.endpoints.network_stack is not None:
        plan.notes.append(
            f"VPC values are stand-ins for the outputs of {settings.endpoints.network_stack.name}"
        )
    # A fresh event loop: Pulumi's runtime asks for the current one, and an earlier asyncio.run() leaves none.
    asyncio.set_event_loop(asyncio.new_event_loop())
    reset_options(project=PROJECT, stack=stack, preview=False)
    mocks = mocks or StandInMocks(settings)
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=False, monitor=_RecordingMonitor(mocks, plan)
    )
    pulumi.runtime.set_all_config({"aws:region": settings.region}, [])
    engine.use_offline_settings(settings)
    try:

        def run_program() -> None:
            runpy.run_path(str(main), run_name="__main__")

        _sync_await(run_pulumi_func(run_program))
        plan.outputs = _resolved_outputs()
    finally:
        engine.use_offline_settings(None)
    if plan.duplicate_urns:
        raise InputError(
            Problem(
                "plan",
                f"two resources would have the URN {urn}; the Pulumi engine refuses this at preview",
                "give the upstreams or images that share a name distinct prefixes or references",
            )
            for urn in sorted(set(plan.duplicate_urns))
        )
    return plan


def plan_stack(stack: str, images_file: Path | str | None = None) -> Plan:
    return run_plan(load_stack_settings(stack, images_file=images_file), stack)


def render_text(plan: Plan) -> str:
    lines = [f"{len(plan.resources)} resources `pulumi up` would register:"]
    for resource in plan.sorted_resources():
        parent = f"  (in {resource.parent})" if resource.parent else ""
        lines.append(f"+ {resource.type}  {resource.name}{parent}")
        for key, value in resource.inputs.items():
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            if len(text) > 160:
                text = text[:157] + "..."
            lines.append(f"      {key}: {text}")
    lines.append("")
    lines.append("Outputs:")
    for name, value in plan.outputs.items():
        lines.append(f"  {name}: {json.dumps(value, indent=2, sort_keys=True)}")
    if plan.notes:
        lines.append("")
        lines.append("Notes:")
        lines += [f"  - {note}" for note in plan.notes]
    return "\n".join(lines)
