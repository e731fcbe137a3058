"""The resource graph `pulumi up` registers, under Pulumi's mock runtime."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.program.plan import PLAN_ECR_PASSWORD
from tests.conftest import WARMED_DIGEST, RunProgram, unwrap

RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
TEMPLATE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
NO_ENDPOINTS: dict[str, Any] = {"endpoints": {"enabled": False}}
TOKEN = "tok-RECOGNIZABLE-4711"


def test_public_upstreams_make_rules_without_credentials(run_program: RunProgram) -> None:
    run = run_program(
        {"upstreams": {"public.ecr.aws": {}, "registry.k8s.io": {}, "quay.io": {}}, **NO_ENDPOINTS}
    )
    rules = {inputs["ecrRepositoryPrefix"]: inputs for _, inputs in run.of_type(RULE)}
    assert {p: r["upstreamRegistryUrl"] for p, r in rules.items()} == {
        "ecr-public": "public.ecr.aws",
        "k8s": "registry.k8s.io",
        "quay": "quay.io",
    }
    assert all("credentialArn" not in r and "customRoleArn" not in r for r in rules.values())
    assert run.of_type(SECRET) == []


@pytest.mark.parametrize(
    ("registry", "prefix", "url"),
    [
        ("docker.io", "docker-hub", "registry-1.docker.io"),
        ("ghcr.io", "ghcr", "ghcr.io"),
        ("registry.gitlab.com", "gitlab", "registry.gitlab.com"),
        ("acmeprod.azurecr.io", "azure-acmeprod", "acmeprod.azurecr.io"),
        ("cgr.dev", "chainguard", "cgr.dev"),
    ],
)
def test_credentialed_upstream_gets_a_secret_from_secret_config(
    run_program: RunProgram, registry: str, prefix: str, url: str
) -> None:
    run = run_program(
        {"upstreams": {registry: {"username": "bot"}}, **NO_ENDPOINTS},
        secrets={f"{prefix}-token": TOKEN},
    )
    secret = run.inputs(SECRET, f"cache-credential-{prefix}")
    assert secret["name"] == f"ecr-pullthroughcache/{prefix}"
    assert "kmsKeyId" not in secret, "ECR can only read secrets under the default aws/secretsmanager key"
    version = run.inputs(SECRET_VERSION, f"cache-credential-{prefix}")
    assert version["secretString"] != unwrap(version["secretString"]), "the secret value must stay secret"
    assert json.loads(unwrap(version["secretString"])) == {"username": "bot", "accessToken": TOKEN}
    rule = run.inputs(RULE, f"cache-rule-{prefix}")
    assert rule["upstreamRegistryUrl"] == url
    assert rule["credentialArn"].endswith(f":cache-credential-{prefix}")


def test_existing_secret_is_adopted_not_created(run_program: RunProgram) -> None:
    run = run_program(
        {"upstreams": {"cgr.dev": {"credentialSecret": "ecr-pullthroughcache/cg"}}, **NO_ENDPOINTS}
    )
    assert run.of_type(SECRET) == [] and run.of_type(SECRET_VERSION) == []
    rule = run.inputs(RULE, "cache-rule-chainguard")
    assert (
        rule["credentialArn"]
        == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/cg-AbCdEf"
    )
    assert run.plan.outputs["credential_secret_arns"] == {"chainguard": rule["credentialArn"]}


def test_ecr_private_upstream_uses_a_role_and_repository_prefix(run_program: RunProgram) -> None:
    upstream = "333333333333.dkr.ecr.us-east-1.amazonaws.com"
    role = "arn:aws:iam::123456789012:role/ptc-upstream"
    run = run_program(
        {
            "upstreams": {
                upstream: {"prefix": "shared", "roleArn": role, "upstreamRepositoryPrefix": "golden"}
            },
            **NO_ENDPOINTS,
        }
    )
    rule = run.inputs(RULE, "cache-rule-shared")
    assert rule["upstreamRegistryUrl"] == upstream
    assert rule["customRoleArn"] == role
    assert rule["upstreamRepositoryPrefix"] == "golden"
    assert "credentialArn" not in rule


def test_plan_never_shows_the_token(run_program: RunProgram) -> None:
    run = run_program(
        {"upstreams": {"docker.io": {"username": "bot"}}, **NO_ENDPOINTS}, secrets={"docker-hub-token": TOKEN}
    )
    text = json.dumps(run.plan.as_json())
    assert TOKEN not in text
    assert run.planned(SECRET_VERSION, "cache-credential-docker-hub")["secretString"] == "[secret]"


def test_templates_default_to_mutable_aes256_with_lifecycle(run_program: RunProgram) -> None:
    run = run_program({"upstreams": {"quay.io": {}, "registry.k8s.io": {}}, **NO_ENDPOINTS})
    templates = dict(run.of_type(TEMPLATE))
    assert set(templates) == {"templates-quay", "templates-k8s"}
    quay = templates["templates-quay"]
    assert quay["prefix"] == "quay"
    assert quay["appliedFors"] == ["PULL_THROUGH_CACHE"]
    assert quay["imageTagMutability"] == "MUTABLE"
    assert quay["encryptionConfigurations"] == [{"encryptionType": "AES256"}]
    assert "customRoleArn" not in quay
    assert run.of_type(ROLE) == []
    policy = json.loads(quay["lifecyclePolicy"])
    priorities = [rule["rulePriority"] for rule in policy["rules"]]
    assert priorities == sorted(priorities)


def test_tags_and_kms_make_a_least_privilege_role(run_program: RunProgram) -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    run = run_program(
        {
            "upstreams": {"quay.io": {}},
            "templates": {"encryption": "KMS", "kmsKeyArn": key, "resourceTags": {"team": "platform"}},
            **NO_ENDPOINTS,
        }
    )
    role = run.inputs(ROLE, "templates-role")
    trust = json.loads(role["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ecr.amazonaws.com"}
    policy = json.loads(run.inputs(ROLE_POLICY, "templates-role")["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["CreateCachedRepositories"]["Resource"] == [
        "arn:aws:ecr:eu-west-1:123456789012:repository/quay/*"
    ]
    assert statements["EncryptCachedRepositories"]["Resource"] == key
    assert set(statements["EncryptCachedRepositories"]["Action"]) == {
        "kms:CreateGrant",
        "kms:RetireGrant",
        "kms:DescribeKey",
    }
    template = run.inputs(TEMPLATE, "templates-quay")
    assert template["customRoleArn"].endswith(":templates-role")
    assert template["resourceTags"] == {"team": "platform"}
    assert template["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key}]


def test_tags_alone_make_a_role_without_kms_actions(run_program: RunProgram) -> None:
    run = run_program(
        {"upstreams": {"quay.io": {}}, "templates": {"resourceTags": {"a": "b"}}, **NO_ENDPOINTS}
    )
    policy = json.loads(run.inputs(ROLE_POLICY, "templates-role")["policy"])
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert not any(a.startswith("kms:") for a in actions)


def test_immutable_with_exclusions(run_program: RunProgram) -> None:
    run = run_program(
        {
            "upstreams": {"quay.io": {}},
            "templates": {
                "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
                "mutabilityExclusions": ["latest"],
            },
            **NO_ENDPOINTS,
        }
    )
    template = run.inputs(TEMPLATE, "templates-quay")
    assert template["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert template["imageTagMutabilityExclusionFilters"] == [{"filter": "latest", "filterType": "WILDCARD"}]


def test_outputs_are_derived_from_the_rules(run_program: RunProgram) -> None:
    run = run_program(
        {"upstreams": {"quay.io": {}, "docker.io": {"username": "bot"}}, **NO_ENDPOINTS},
        images="- nginx:1.27\n- quay.io/argoproj/argocd:v2.7.3\n",
        secrets={"docker-hub-token": TOKEN},
    )
    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    outputs = run.plan.outputs
    assert outputs["registry"] == registry
    assert outputs["cache_prefixes"] == {"docker.io": f"{registry}/docker-hub", "quay.io": f"{registry}/quay"}
    assert outputs["rules"] == {"docker-hub": "registry-1.docker.io", "quay": "quay.io"}
    assert outputs["images"] == {
        "docker.io/library/nginx:1.27": f"{registry}/docker-hub/library/nginx:1.27@{WARMED_DIGEST}",
        "quay.io/argoproj/argocd:v2.7.3": f"{registry}/quay/argoproj/argocd:v2.7.3@{WARMED_DIGEST}",
    }
    assert set(outputs["credential_secret_arns"]) == {"docker-hub"}
    assert outputs["credential_secret_arns"]["docker-hub"].startswith("arn:aws:secretsmanager:")


SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
REGISTRY_POLICY = "aws:ecr/registryPolicy:RegistryPolicy"
IAM_POLICY = "aws:iam/policy:Policy"
ENDPOINTS: dict[str, Any] = {
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "vpcCidrs": ["10.20.0.0/16", "2600:1f18::/56"],
    "subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
    "routeTableIds": ["rtb-0a1b2c3d4e5f60001"],
}


def test_endpoints_security_group_allows_https_from_the_vpc_only(run_program: RunProgram) -> None:
    run = run_program({"upstreams": {"quay.io": {}}, "endpoints": ENDPOINTS})
    group = run.inputs(SECURITY_GROUP, "endpoints-security-group")
    (rule,) = group["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert rule["cidrBlocks"] == ["10.20.0.0/16"]
    assert rule["ipv6CidrBlocks"] == ["2600:1f18::/56"]
    assert "egress" not in group or group["egress"] in ([], None)


def test_required_interface_endpoints_and_s3_gateway(run_program: RunProgram) -> None:
    run = run_program({"upstreams": {"quay.io": {}}, "endpoints": ENDPOINTS}, region="ap-northeast-2")
    endpoints = {name.removeprefix("endpoints-"): inputs for name, inputs in run.of_type(ENDPOINT)}
    assert set(endpoints) == {"ecr.api", "ecr.dkr", "s3"}
    for name in ("ecr.api", "ecr.dkr"):
        endpoint = endpoints[name]
        assert endpoint["serviceName"] == f"com.amazonaws.ap-northeast-2.{name}"
        assert endpoint["vpcEndpointType"] == "Interface"
        assert endpoint["privateDnsEnabled"] is True
        assert endpoint["subnetIds"] == ENDPOINTS["subnetIds"]
    s3 = endpoints["s3"]
    assert s3["vpcEndpointType"] == "Gateway"
    assert s3["routeTableIds"] == ENDPOINTS["routeTableIds"]
    policy = json.loads(s3["policy"])
    assert policy["Statement"][0]["Action"] == "s3:GetObject"
    assert policy["Statement"][0]["Resource"] == ["arn:aws:s3:::prod-ap-northeast-2-starport-layer-bucket/*"]
    assert set(run.plan.outputs["vpc_endpoint_ids"]) == {"ecr.api", "ecr.dkr", "s3"}


def test_endpoints_switched_off(run_program: RunProgram) -> None:
    run = run_program({"upstreams": {"quay.io": {}}, **NO_ENDPOINTS})
    assert run.of_type(ENDPOINT) == [] and run.of_type(SECURITY_GROUP) == []
    assert run.plan.outputs["vpc_endpoint_ids"] == {}
    assert run.plan.outputs["vpc_endpoint_security_group_id"] is None


def test_vpc_from_a_network_stack(run_program: RunProgram) -> None:
    run = run_program(
        {
            "upstreams": {"quay.io": {}},
            "endpoints": {
                "networkStack": {"name": "acme/network/dev", "vpcIdOutput": "id"},
                "services": ["sts"],
            },
        }
    )
    assert run.inputs(SECURITY_GROUP, "endpoints-security-group")["vpcId"] == "vpc-0fedcba9876543210"
    assert run.inputs(ENDPOINT, "endpoints-sts")["subnetIds"][0].startswith("subnet-")


def test_a_vpc_that_has_an_s3_gateway_keeps_it(run_program: RunProgram) -> None:
    without_route_tables = {k: v for k, v in ENDPOINTS.items() if k != "routeTableIds"}
    run = run_program(
        {"upstreams": {"quay.io": {}}, "endpoints": {**without_route_tables, "s3Gateway": False}}
    )
    assert set(dict(run.of_type(ENDPOINT))) == {"endpoints-ecr.api", "endpoints-ecr.dkr"}
    assert set(run.plan.outputs["vpc_endpoint_ids"]) == {"ecr.api", "ecr.dkr"}


@pytest.mark.parametrize(
    ("output", "value", "message"),
    [
        ("privateSubnetIds", ["sub-1"], "'sub-1' is not a subnet ID"),
        ("privateRouteTableIds", [], "the network stack gave no route tables"),
        ("vpcCidrs", ["0.0.0.0/0"], "opens the endpoints to the whole internet"),
    ],
)
def test_network_stack_values_are_checked_when_they_arrive(
    tmp_path: Any, output: str, value: list[str], message: str
) -> None:
    from components.config.load import build_settings
    from components.config.source import RawConfig
    from components.program.plan import run_plan
    from tests.conftest import CapturingMocks

    (tmp_path / "images.yaml").write_text("")
    values = {"upstreams": {"quay.io": {}}, "endpoints": {"networkStack": {"name": "acme/network/dev"}}}
    settings = build_settings(
        RawConfig("Pulumi.test.yaml", values, frozenset(), {"aws:region": "eu-west-1"}), root=tmp_path
    )
    mocks = CapturingMocks(settings)
    mocks.network_outputs[output] = value
    with pytest.raises(Exception, match=message):
        run_plan(settings, "test", mocks=mocks)


def test_no_consumers_no_registry_policy_but_a_node_policy(run_program: RunProgram) -> None:
    run = run_program({"upstreams": {"quay.io": {}}, **NO_ENDPOINTS})
    assert run.of_type(REGISTRY_POLICY) == []
    assert "repositoryPolicy" not in run.inputs(TEMPLATE, "templates-quay")
    node = json.loads(run.inputs(IAM_POLICY, "access-node-pull-policy")["policy"])
    assert {s["Sid"] for s in node["Statement"]} == {"AuthenticateToEcr", "PullThroughCache"}
    assert run.plan.outputs["node_pull_policy_arn"].startswith("arn:aws:iam")


def test_consumers_get_registry_and_template_repository_policies(run_program: RunProgram) -> None:
    run = run_program(
        {
            "upstreams": {"quay.io": {}, "registry.k8s.io": {}},
            "access": {"accountIds": ["111111111111"], "organizationId": "o-a1b2c3d4e5"},
            **NO_ENDPOINTS,
        }
    )
    registry_policy = json.loads(run.inputs(REGISTRY_POLICY, "access-registry-policy")["policy"])
    resources = {r for s in registry_policy["Statement"] for r in s["Resource"]}
    assert resources == {
        "arn:aws:ecr:eu-west-1:123456789012:repository/quay/*",
        "arn:aws:ecr:eu-west-1:123456789012:repository/k8s/*",
    }
    repository_policy = json.loads(run.inputs(TEMPLATE, "templates-quay")["repositoryPolicy"])
    assert {s["Sid"] for s in repository_policy["Statement"]} == {
        "PullThroughCacheAccounts",
        "PullThroughCacheOrganization",
    }


def dev_template(plan: Any) -> dict[str, Any]:
    return next(r.inputs for r in plan.resources if r.type == TEMPLATE and r.name == "templates-quay")


def test_prod_plan_json_lists_every_output_and_resource_kind() -> None:
    from components.program.outputs import OUTPUTS
    from components.program.plan import plan_stack

    plan = plan_stack("prod").as_json()
    assert set(plan["outputs"]) == {spec.name for spec in OUTPUTS}
    types = {r["type"] for r in plan["resources"]}
    assert {RULE, SECRET, SECRET_VERSION, TEMPLATE, ROLE} <= types
    assert all(set(r) == {"type", "name", "parent", "aliases", "inputs"} for r in plan["resources"])


WARMED = "pulumi-python:dynamic/ecr:WarmedImage"
REGISTRY_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
COMMAND = "command:local:Command"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
IMAGES = "- quay.io/argoproj/argocd:v2.7.3\n- image: registry.k8s.io/pause\n  tags: ['3.10']\n  platforms: [linux/arm64]\n"
TWO_UPSTREAMS: dict[str, Any] = {"upstreams": {"quay.io": {}, "registry.k8s.io": {}}, **NO_ENDPOINTS}


def test_one_warmed_image_per_tag_after_rules_and_templates(run_program: RunProgram) -> None:
    run = run_program(TWO_UPSTREAMS, images=IMAGES)
    warmed = dict(run.of_type(WARMED))
    assert set(warmed) == {"warm-quay.io/argoproj/argocd:v2.7.3", "warm-registry.k8s.io/pause:3.10"}
    pause = warmed["warm-registry.k8s.io/pause:3.10"]
    assert pause["registry_url"] == "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/k8s"
    assert pause["repository"] == "pause" and pause["tag"] == "3.10"
    assert pause["platforms"] == ["linux/arm64"]
    assert pause["prune"] is False
    planned = next(r for r in run.plan.resources if r.name == "warm-registry.k8s.io/pause:3.10")
    assert {"cache-rule-quay", "cache-rule-k8s", "templates-quay", "templates-k8s"} <= set(planned.depends_on)
    assert planned.parent == "warm"


def test_images_output_pins_the_warmed_digest(run_program: RunProgram) -> None:
    run = run_program(TWO_UPSTREAMS, images=IMAGES)
    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    digest = "sha256:" + "d" * 64
    assert run.plan.outputs["images"] == {
        "quay.io/argoproj/argocd:v2.7.3": f"{registry}/quay/argoproj/argocd:v2.7.3@{digest}",
        "registry.k8s.io/pause:3.10": f"{registry}/k8s/pause:3.10@{digest}",
    }


def test_warming_can_be_switched_off(run_program: RunProgram) -> None:
    run = run_program({**TWO_UPSTREAMS, "warm": {"enabled": False}}, images=IMAGES)
    assert run.of_type(WARMED) == []
    assert run.plan.outputs["images"]["registry.k8s.io/pause:3.10"].endswith("/k8s/pause:3.10")


def test_docker_backend_pulls_with_an_ecr_login(run_program: RunProgram) -> None:
    run = run_program({**TWO_UPSTREAMS, "warm": {"backend": "docker"}}, images=IMAGES)
    images = dict(run.of_type(REMOTE_IMAGE))
    pause = images["warm-registry.k8s.io/pause:3.10"]
    assert pause["name"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/k8s/pause:3.10"
    assert pause["platform"] == "linux/arm64"
    assert pause["keepLocally"] is False
    auth = run.inputs("pulumi:providers:docker", "warm-docker")["registryAuth"]
    assert unwrap(auth) != auth, "the registry login is a secret"
    (login,) = json.loads(unwrap(auth))
    assert login == {"address": REGISTRY_HOST, "username": "AWS", "password": PLAN_ECR_PASSWORD}
    assert run.planned("pulumi:providers:docker", "warm-docker")["registryAuth"] == "[secret]"
    assert run.of_type(WARMED) == []


def test_command_backend_runs_the_teams_pull_command(run_program: RunProgram) -> None:
    run = run_program(
        {**TWO_UPSTREAMS, "warm": {"backend": "command", "pullCommand": 'crane digest "$IMAGE"'}},
        images=IMAGES,
    )
    pull = run.inputs(COMMAND, "warm-quay.io/argoproj/argocd:v2.7.3")
    assert pull["create"] == 'crane digest "$IMAGE"'
    assert unwrap(pull["environment"]) != pull["environment"], "the environment carries a secret"
    environment = unwrap(pull["environment"])
    assert environment["IMAGE"] == f"{REGISTRY_HOST}/quay/argoproj/argocd:v2.7.3"
    assert environment["REGISTRY_USERNAME"] == "AWS"
    assert environment["REGISTRY_PASSWORD"] == PLAN_ECR_PASSWORD
    planned = run.planned(COMMAND, "warm-quay.io/argoproj/argocd:v2.7.3")
    assert planned["environment"] == "[secret]"
    assert PLAN_ECR_PASSWORD not in json.dumps(run.plan.as_json())


def test_command_backend_needs_a_command(run_program: RunProgram) -> None:
    from components.errors import InputError

    with pytest.raises(InputError, match=r"warm\.pullCommand: the command backend needs"):
        run_program({**TWO_UPSTREAMS, "warm": {"backend": "command"}}, images=IMAGES)


def test_existing_repositories_get_policies_after_warming(run_program: RunProgram) -> None:
    run = run_program(
        {**TWO_UPSTREAMS, "access": {"accountIds": ["111111111111"], "applyToExistingRepositories": True}},
        images=IMAGES,
    )
    policies = dict(run.of_type(REPOSITORY_POLICY))
    assert {p["repository"] for p in policies.values()} == {"quay/argoproj/argocd", "k8s/pause"}
    actions = {
        a for p in policies.values() for s in json.loads(p["policy"])["Statement"] for a in s["Action"]
    }
    assert "ecr:PutImage" not in actions and "ecr:BatchGetImage" in actions
    planned = next(r for r in run.plan.resources if r.type == REPOSITORY_POLICY)
    assert any(dep.startswith("warm-") for dep in planned.depends_on)


def secret_key_mocks(settings: Any, key_id: str, key_manager: str) -> Any:
    """Stand-ins for an adopted secret encrypted with `key_id`, a key managed by `key_manager`."""
    from tests.conftest import CapturingMocks

    class Mocks(CapturingMocks):
        def call(self, args: Any) -> Any:
            result, failures = super().call(args)
            if args.token == "aws:secretsmanager/getSecret:getSecret":
                result["kmsKeyId"] = key_id
            if args.token == "aws:kms/getKey:getKey":
                assert args.args["keyId"] == key_id
                result["keyManager"] = key_manager
            return result, failures

    return Mocks(settings)


CUSTOMER_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ADOPTED_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/cg-AbCdEf"


@pytest.mark.parametrize("secret", ["ecr-pullthroughcache/cg", ADOPTED_ARN])
def test_existing_secret_under_a_customer_managed_key_is_refused(tmp_path: Any, secret: str) -> None:
    from components.config.load import build_settings
    from components.config.source import RawConfig
    from components.program.plan import run_plan

    (tmp_path / "images.yaml").write_text("")
    values = {"upstreams": {"cgr.dev": {"credentialSecret": secret}}, **NO_ENDPOINTS}
    settings = build_settings(
        RawConfig("Pulumi.test.yaml", values, frozenset(), {"aws:region": "eu-west-1"}), root=tmp_path
    )
    with pytest.raises(Exception, match="customer-managed KMS key"):
        run_plan(settings, "test", mocks=secret_key_mocks(settings, CUSTOMER_KEY, "CUSTOMER"))
    console_made = secret_key_mocks(settings, "alias/aws/secretsmanager", "AWS")
    plan = run_plan(settings, "test", mocks=console_made)
    assert plan.outputs["credential_secret_arns"] == {"chainguard": ADOPTED_ARN}, (
        "a secret naming the default key is as good as one naming none"
    )
