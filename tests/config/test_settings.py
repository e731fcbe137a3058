"""Stack settings: every validation error names its config key (and line) and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.config.load import build_settings, load_stack_settings
from components.config.source import SECRET_PLACEHOLDER, RawConfig, read_engine_config, read_stack_file
from components.config.upstream_checks import check_role_for_account
from components.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
PUBLIC: dict[str, Any] = {"public.ecr.aws": {}, "quay.io": {}}


def raw(values: dict[str, Any], *, secrets: tuple[str, ...] = (), region: str = "eu-west-1") -> RawConfig:
    """Config values as a stack file holds them; endpoints are off unless a test configures them."""
    values = {"endpoints": {"enabled": False}, **values}
    return RawConfig("Pulumi.test.yaml", values, frozenset(secrets), {"aws:region": region})


def settings_for(
    values: dict[str, Any], tmp_path: Path, images: str = "- quay.io/a/b:1\n", **kwargs: Any
) -> Any:
    (tmp_path / "images.yaml").write_text(images)
    return build_settings(raw(values, **kwargs), root=tmp_path)


def error_for(
    values: dict[str, Any], tmp_path: Path, images: str = "- quay.io/a/b:1\n", **kwargs: Any
) -> str:
    with pytest.raises(InputError) as caught:
        settings_for(values, tmp_path, images, **kwargs)
    return str(caught.value)


def test_minimal_stack(tmp_path: Path) -> None:
    settings = settings_for({"upstreams": PUBLIC}, tmp_path)
    assert settings.cache_prefixes() == {"public.ecr.aws": "ecr-public", "quay.io": "quay"}
    assert settings.region == "eu-west-1"
    assert [str(e.ref) for e in settings.images] == ["quay.io/a/b:1"]


def test_unknown_config_key(tmp_path: Path) -> None:
    message = error_for({"upstreams": PUBLIC, "retentoin": {}}, tmp_path)
    assert "ecr-pull-through-cache:retentoin: unknown config key" in message
    assert "check its spelling" in message


def test_unknown_nested_key(tmp_path: Path) -> None:
    message = error_for({"upstreams": PUBLIC, "templates": {"mutability": "MUTABLE"}}, tmp_path)
    assert "ecr-pull-through-cache:templates.mutability: unknown config key" in message


@pytest.mark.parametrize("region", ["cn-north-1", "cn-northwest-1", "us-gov-east-1", "us-gov-west-1"])
def test_regions_without_pull_through_cache(tmp_path: Path, region: str) -> None:
    message = error_for({"upstreams": PUBLIC}, tmp_path, region=region)
    assert f"aws:region {region!r} has no ECR pull-through cache" in message


def test_missing_region(tmp_path: Path) -> None:
    assert "pulumi config set aws:region" in error_for({"upstreams": PUBLIC}, tmp_path, region="")


def test_unsupported_upstream_lists_supported(tmp_path: Path) -> None:
    message = error_for({"upstreams": {**PUBLIC, "gcr.io": {}}}, tmp_path)
    assert "'gcr.io' is not an upstream" in message
    assert "supported: docker.io, public.ecr.aws, registry.k8s.io, quay.io, ghcr.io" in message


def test_image_from_unsupported_registry(tmp_path: Path) -> None:
    message = error_for({"upstreams": PUBLIC}, tmp_path, images="- quay.io/a/b:1\n- gcr.io/x/y:1\n")
    assert "images.yaml:2: gcr.io/x/y:1: registry 'gcr.io' is not a supported upstream" in message
    assert "supported: docker.io" in message


def test_image_from_upstream_not_enabled(tmp_path: Path) -> None:
    message = error_for({"upstreams": PUBLIC}, tmp_path, images="- registry.k8s.io/pause:3.10\n")
    assert "images.yaml:1: registry.k8s.io/pause:3.10: upstream 'registry.k8s.io' is not enabled" in message
    assert "add it under ecr-pull-through-cache:upstreams" in message


def test_digest_only_image(tmp_path: Path) -> None:
    message = error_for({"upstreams": PUBLIC}, tmp_path, images="- quay.io/a/b@sha256:" + "c" * 64 + "\n")
    assert "ECR cannot pull an image by digest before it is cached" in message


def test_no_upstream(tmp_path: Path) -> None:
    assert "no upstream is enabled" in error_for({"upstreams": {}}, tmp_path, images="")


def test_too_many_rules(tmp_path: Path) -> None:
    upstreams: dict[str, Any] = {f"{n:012d}.dkr.ecr.eu-west-1.amazonaws.com": {} for n in range(51)}
    message = error_for({"upstreams": upstreams}, tmp_path, images="")
    assert "at most 50 pull-through cache rules" in message


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("a", "ECR allows 2 to 30"),
        ("x" * 31, "ECR allows 2 to 30"),
        ("Quay", "is not valid"),
        ("quay-", "is not valid"),
        ("team//quay", "is not valid"),
    ],
)
def test_prefix_grammar_and_length(tmp_path: Path, prefix: str, message: str) -> None:
    text = error_for({"upstreams": {"quay.io": {"prefix": prefix}}}, tmp_path)
    assert "ecr-pull-through-cache:upstreams.quay.io.prefix" in text
    assert message in text


def test_root_prefix_is_allowed(tmp_path: Path) -> None:
    ecr = "333333333333.dkr.ecr.eu-west-1.amazonaws.com"
    role = "arn:aws:iam::123456789012:role/upstream"
    settings = settings_for({"upstreams": {ecr: {"prefix": "ROOT", "roleArn": role}}}, tmp_path, images="")
    assert settings.cache_prefixes() == {ecr: "ROOT"}


def test_root_prefix_is_refused_for_upstreams_other_than_ecr(tmp_path: Path) -> None:
    message = error_for({"upstreams": {"quay.io": {"prefix": "ROOT"}}}, tmp_path)
    assert (
        "ecr-pull-through-cache:upstreams.quay.io.prefix: prefix ROOT is documented only for an ECR"
        in message
    )


def test_two_upstreams_on_one_prefix(tmp_path: Path) -> None:
    message = error_for({"upstreams": {"quay.io": {}, "public.ecr.aws": {"prefix": "quay"}}}, tmp_path)
    assert "prefix 'quay' is already used by quay.io" in message


def test_azure_default_prefix_too_long_asks_for_a_prefix(tmp_path: Path) -> None:
    registry = "a" * 40 + ".azurecr.io"
    message = error_for({"upstreams": {registry: {"username": "u"}}}, tmp_path, images="")
    assert f"set ecr-pull-through-cache:upstreams.{registry}.prefix" in message


def test_credentialed_upstream_without_credentials(tmp_path: Path) -> None:
    message = error_for({"upstreams": {"ghcr.io": {}}}, tmp_path, images="")
    assert "GitHub Container Registry needs a login" in message
    assert "pulumi config set --secret ecr-pull-through-cache:ghcr-token" in message


@pytest.mark.parametrize(
    "registry", ["docker.io", "ghcr.io", "registry.gitlab.com", "acme1.azurecr.io", "cgr.dev"]
)
def test_every_credentialed_upstream_needs_its_token(tmp_path: Path, registry: str) -> None:
    message = error_for({"upstreams": {registry: {"username": "bot"}}}, tmp_path, images="")
    assert "is not set" in message
    assert "pulumi config set --secret ecr-pull-through-cache:" in message


def test_plaintext_token_is_refused_without_echoing_it(tmp_path: Path) -> None:
    token = "plaintext-token-LEAK-123"
    message = error_for(
        {"upstreams": {"docker.io": {"username": "bot"}}, "docker-hub-token": token}, tmp_path, images=""
    )
    assert "stored in plain text" in message
    assert "pulumi config set --secret ecr-pull-through-cache:docker-hub-token" in message
    assert token not in message


def _rule(settings: Any, registry: str) -> Any:
    return next(rule for rule in settings.rules if rule.registry == registry)


def test_secret_token_is_kept_secret(tmp_path: Path) -> None:
    settings = settings_for(
        {"upstreams": {"docker.io": {"username": "bot"}}, "docker-hub-token": "tok-123"},
        tmp_path,
        images="- nginx:1\n",
        secrets=("docker-hub-token",),
    )
    credential = _rule(settings, "docker.io").credential
    assert credential.secret_name == "ecr-pullthroughcache/docker-hub"
    assert credential.token.get_secret_value() == "tok-123"
    assert "tok-123" not in repr(settings)


def test_token_for_no_upstream(tmp_path: Path) -> None:
    message = error_for({"upstreams": PUBLIC, "ghcr-token": "x"}, tmp_path, secrets=("ghcr-token",))
    assert "no enabled upstream uses this token key" in message


def test_existing_secret_must_have_the_ecr_prefix(tmp_path: Path) -> None:
    message = error_for({"upstreams": {"ghcr.io": {"credentialSecret": "github/token"}}}, tmp_path, images="")
    assert "is not named 'ecr-pullthroughcache/...'" in message


def test_existing_secret_by_arn(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/ghcr-AbCdEf"
    settings = settings_for({"upstreams": {"ghcr.io": {"credentialSecret": arn}}}, tmp_path, images="")
    assert _rule(settings, "ghcr.io").credential.existing == arn


def test_public_upstream_takes_no_credentials(tmp_path: Path) -> None:
    assert "needs no credentials" in error_for({"upstreams": {"quay.io": {"username": "x"}}}, tmp_path)


def test_ecr_role_arn_format(tmp_path: Path) -> None:
    upstream = {"333333333333.dkr.ecr.eu-west-1.amazonaws.com": {"roleArn": "role/x"}}
    assert "is not an IAM role ARN" in error_for({"upstreams": upstream}, tmp_path, images="")


def test_upstream_repository_prefix_rules(tmp_path: Path) -> None:
    assert "only meaningful for an ECR private upstream" in error_for(
        {"upstreams": {"quay.io": {"upstreamRepositoryPrefix": "team"}}}, tmp_path
    )
    ecr = "333333333333.dkr.ecr.eu-west-1.amazonaws.com"
    assert "cannot be set when the prefix is ROOT" in error_for(
        {"upstreams": {ecr: {"prefix": "ROOT", "upstreamRepositoryPrefix": "team"}}}, tmp_path, images=""
    )


def test_cross_account_ecr_upstream_needs_a_role(tmp_path: Path) -> None:
    ecr = "333333333333.dkr.ecr.us-east-1.amazonaws.com"
    settings = settings_for({"upstreams": {ecr: {}}}, tmp_path, images="")
    check_role_for_account(settings, "333333333333")
    with pytest.raises(
        InputError, match="roleArn is required: account 333333333333 is not this stack's account"
    ):
        check_role_for_account(settings, "123456789012")


def test_ecr_upstream_role_must_be_in_the_registrys_account(tmp_path: Path) -> None:
    ecr = "333333333333.dkr.ecr.us-east-1.amazonaws.com"
    role = "arn:aws:iam::444444444444:role/ptc"
    settings = settings_for({"upstreams": {ecr: {"roleArn": role}}}, tmp_path, images="")
    check_role_for_account(settings, "444444444444")
    with pytest.raises(
        InputError,
        match="is a role in account 444444444444, but ECR only assumes a role in the registry's own account, "
        "123456789012",
    ):
        check_role_for_account(settings, "123456789012")


def test_immutable_tags_warn(tmp_path: Path) -> None:
    settings = settings_for({"upstreams": PUBLIC, "templates": {"imageTagMutability": "IMMUTABLE"}}, tmp_path)
    assert any("can no longer refresh a cached tag" in w for w in settings.warnings)


def test_tagged_templates_with_consumer_accounts_warn_about_tag_resource(tmp_path: Path) -> None:
    tags = {"templates": {"resourceTags": {"team": "platform"}}}
    alone = settings_for({"upstreams": PUBLIC, **tags}, tmp_path)
    assert alone.warnings == ()
    shared = settings_for(
        {"upstreams": PUBLIC, **tags, "access": {"organizationId": "o-a1b2c3d4e5"}}, tmp_path
    )
    (warning,) = shared.warnings
    assert "ecr:TagResource" in warning
    assert "consumer accounts' node roles need it in their own IAM policies" in warning


def test_default_mutability_is_mutable(tmp_path: Path) -> None:
    settings = settings_for({"upstreams": PUBLIC}, tmp_path)
    assert settings.templates.image_tag_mutability == "MUTABLE"
    assert settings.warnings == ()


def test_exclusion_filters_have_at_most_two_wildcards(tmp_path: Path) -> None:
    templates: dict[str, Any] = {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}
    settings_for(
        {"upstreams": PUBLIC, "templates": {**templates, "mutabilityExclusions": ["*-rc*"]}}, tmp_path
    )
    message = error_for(
        {"upstreams": PUBLIC, "templates": {**templates, "mutabilityExclusions": ["*a*b*"]}}, tmp_path
    )
    assert "filter '*a*b*' has 3 '*' wildcards; ECR allows 2" in message


def test_exclusion_mutability_needs_filters(tmp_path: Path) -> None:
    templates: dict[str, Any] = {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}
    assert "needs 1 to 5 exclusion filters" in error_for(
        {"upstreams": PUBLIC, "templates": templates}, tmp_path
    )
    templates = {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION", "mutabilityExclusions": ["bad/slash"]}
    assert "must match" in error_for({"upstreams": PUBLIC, "templates": templates}, tmp_path)


def test_kms_needs_a_key_in_the_region(tmp_path: Path) -> None:
    assert "KMS encryption needs a KMS key ARN" in error_for(
        {"upstreams": PUBLIC, "templates": {"encryption": "KMS"}}, tmp_path
    )
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert "the key is in us-east-1, but must be in eu-west-1" in error_for(
        {"upstreams": PUBLIC, "templates": {"encryption": "KMS", "kmsKeyArn": key}}, tmp_path
    )


def test_template_description_length(tmp_path: Path) -> None:
    """The provider allows 255 characters, one fewer than AWS: 256 is refused, 255 passes."""
    message = error_for({"upstreams": PUBLIC, "templates": {"description": "d" * 256}}, tmp_path)
    assert "ecr-pull-through-cache:templates.description: is longer than 255 characters" in message
    settings_for({"upstreams": PUBLIC, "templates": {"description": "d" * 255}}, tmp_path)


def test_blog_retention_policy_is_refused_with_reasons(tmp_path: Path) -> None:
    message = error_for({"upstreams": PUBLIC, "retention": {"expireTaggedUnpulledAfterDays": 14}}, tmp_path)
    assert "ecr-pull-through-cache:retention" in message
    assert "sinceImagePulled" in message


def test_hand_written_lifecycle_policy_is_validated(tmp_path: Path) -> None:
    policy = '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged", "countType": '
    policy += '"imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}}]}'
    message = error_for({"upstreams": PUBLIC, "lifecyclePolicy": policy}, tmp_path)
    assert "ecr-pull-through-cache:lifecyclePolicy" in message


def test_access_ids_are_checked(tmp_path: Path) -> None:
    message = error_for(
        {"upstreams": PUBLIC, "access": {"accountIds": ["1234"], "organizationId": "org"}}, tmp_path
    )
    assert "'1234' is not a 12-digit AWS account ID" in message
    assert "'org' is not an organization ID" in message


def test_endpoints_need_a_vpc(tmp_path: Path) -> None:
    message = error_for({"upstreams": PUBLIC, "endpoints": {"enabled": True}}, tmp_path)
    for key in ("vpcId", "vpcCidrs", "subnetIds", "routeTableIds"):
        assert f"ecr-pull-through-cache:endpoints.{key}: is required" in message


def test_endpoints_ids_and_cidrs_are_checked(tmp_path: Path) -> None:
    endpoints = {
        "vpcId": "vpc-xyz",
        "vpcCidrs": ["10.0.0.0/33"],
        "subnetIds": ["sub-1"],
        "routeTableIds": ["rt-1"],
        "services": ["s3express"],
    }
    message = error_for({"upstreams": PUBLIC, "endpoints": endpoints}, tmp_path)
    for key in ("vpcId", "vpcCidrs", "subnetIds", "routeTableIds"):
        assert f"ecr-pull-through-cache:endpoints.{key}:" in message
    assert "unknown endpoint service 's3express'" in message


def test_s3_gateway_settings(tmp_path: Path) -> None:
    vpc = {"vpcId": "vpc-0a1b2c3d", "vpcCidrs": ["10.0.0.0/16"], "subnetIds": ["subnet-0a1b2c3d"]}
    settings_for({"upstreams": PUBLIC, "endpoints": {**vpc, "s3Gateway": False}}, tmp_path)
    message = error_for(
        {
            "upstreams": PUBLIC,
            "endpoints": {
                **vpc,
                "s3Gateway": False,
                "routeTableIds": ["rtb-0a1b2c3d"],
                "extraS3BucketArns": ["x"],
            },
        },
        tmp_path,
    )
    assert "endpoints.routeTableIds: is only used by the S3 gateway" in message
    assert "endpoints.extraS3BucketArns: is only used by the S3 gateway" in message
    assert "endpoints.extraS3BucketArns: 'x' is not an S3 bucket ARN" in message


def test_extra_bucket_arns_are_checked_before_anything_is_registered(tmp_path: Path) -> None:
    endpoints = {"networkStack": {"name": "acme/network/dev"}, "extraS3BucketArns": ["acme-artifacts"]}
    assert "'acme-artifacts' is not an S3 bucket ARN" in error_for(
        {"upstreams": PUBLIC, "endpoints": endpoints}, tmp_path
    )


def test_stack_file_errors_carry_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "images.yaml").write_text("- quay.io/a/b:1\n")
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n"
        "  aws:region: eu-west-1\n"
        "  ecr-pull-through-cache:upstreams:\n"
        "    quay.io: {}\n"
        "  ecr-pull-through-cache:templates:\n"
        "    imageTagMutability: SOMETIMES\n"
    )
    with pytest.raises(InputError) as caught:
        load_stack_settings("bad", root=tmp_path)
    assert "Pulumi.bad.yaml:6: ecr-pull-through-cache:templates.imageTagMutability" in str(caught.value)


def test_stack_file_secure_values_are_never_read(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.s.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  ecr-pull-through-cache:docker-hub-token:\n    secure: v1:CIPHERTEXT\n"
    )
    config = read_stack_file("s", tmp_path)
    assert config.values["docker-hub-token"] == SECRET_PLACEHOLDER
    assert "docker-hub-token" in config.secret_keys
    assert "CIPHERTEXT" not in repr(config)


def test_missing_secret_is_a_placeholder_in_plan_mode(tmp_path: Path) -> None:
    (tmp_path / "images.yaml").write_text("")
    settings = build_settings(
        raw({"upstreams": {"docker.io": {"username": "bot"}}}), placeholder_secrets=True, root=tmp_path
    )
    assert settings.missing_secrets == (
        "pulumi config set --secret ecr-pull-through-cache:docker-hub-token <access token>",
    )


def test_engine_config_objects_arrive_as_json_text(tmp_path: Path) -> None:
    config = read_engine_config(
        {
            "aws:region": "eu-west-1",
            "ecr-pull-through-cache:upstreams": '{"quay.io": {}}',
            "ecr-pull-through-cache:warm": '{"concurrency": "4"}',
            "ecr-pull-through-cache:endpoints": '{"enabled": false}',
        },
        frozenset(),
    )
    (tmp_path / "images.yaml").write_text("- quay.io/a/b:1\n")
    settings = build_settings(config, root=tmp_path)
    assert settings.warm.concurrency == 4


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_repository_stacks_are_valid(stack: str) -> None:
    settings = load_stack_settings(stack)
    assert settings.images


def test_hand_written_lifecycle_rule_that_never_acts_is_a_warning_naming_it(tmp_path: Path) -> None:
    policy = {
        "rules": [
            {
                "rulePriority": 1,
                "description": "expire untagged",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": "cap tagged",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 9,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 3,
                "description": "cap everything",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 99},
                "action": {"type": "expire"},
            },
        ]
    }
    settings = settings_for({"upstreams": PUBLIC, "lifecyclePolicy": policy}, tmp_path)
    (warning,) = settings.warnings
    assert warning.startswith(
        "ecr-pull-through-cache:lifecyclePolicy: lifecycle rule 3 (cap everything) can never act"
    )


def test_archiving_turns_the_default_count_cap_off_but_not_an_explicit_one(tmp_path: Path) -> None:
    daily = {"schedule": "rate(1 day)"}
    settings = settings_for(
        {"upstreams": PUBLIC, "retention": {"archiveUnpulledAfterDays": 90}, "warm": daily}, tmp_path
    )
    rules = json.loads(settings.lifecycle_policy_json)["rules"]
    assert [r["selection"]["countType"] for r in rules] == ["sinceImagePushed", "sinceImagePulled"]
    message = error_for(
        {"upstreams": PUBLIC, "retention": {"archiveUnpulledAfterDays": 90, "maxImageCount": 500}}, tmp_path
    )
    assert (
        "ecr-pull-through-cache:retention: retention.maxImageCount and retention.archiveUnpulledAfterDays"
        in message
    )


def _ecr_upstreams(count: int) -> dict[str, Any]:
    return {
        f"{n:012d}.dkr.ecr.eu-west-1.amazonaws.com": {
            "prefix": f"shared-services-team-{n:04d}",
            "roleArn": "arn:aws:iam::123456789012:role/upstream",
        }
        for n in range(count)
    }


def test_policy_sizes_are_checked_before_anything_is_registered(tmp_path: Path) -> None:
    """50 upstreams, 100 accounts and an organization: the registry policy exceeds ECR's 10,240."""
    access = {"accountIds": [f"{n:012d}" for n in range(100, 200)], "organizationId": "o-a1b2c3d4e5"}
    message = error_for({"upstreams": _ecr_upstreams(50), "access": access}, tmp_path, images="")
    assert "ecr-pull-through-cache:access.accountIds: the ECR registry policy would be" in message
    assert "AWS allows at most 10240" in message
    assert "access.organizationId" in message
    assert "IAM managed policy" not in message, "the compact node policy fits with 50 upstreams"
    settings_for(
        {"upstreams": _ecr_upstreams(50), "access": {"organizationId": "o-a1b2c3d4e5"}}, tmp_path, images=""
    )


def test_repository_policy_size_names_the_accounts_key(tmp_path: Path) -> None:
    access = {"accountIds": [f"{n:012d}" for n in range(100, 500)]}
    message = error_for({"upstreams": PUBLIC, "access": access}, tmp_path)
    assert "ecr-pull-through-cache:access.accountIds: the ECR repository policy would be" in message


def test_policies_on_existing_repositories_need_warming(tmp_path: Path) -> None:
    values = {
        "upstreams": PUBLIC,
        "access": {"accountIds": ["111111111111"], "applyToExistingRepositories": True},
        "warm": {"enabled": False},
    }
    message = error_for(values, tmp_path)
    assert "ecr-pull-through-cache:access.applyToExistingRepositories: needs warming" in message
    assert "RepositoryNotFoundException" in message
    settings_for({**values, "warm": {"enabled": True}}, tmp_path)
