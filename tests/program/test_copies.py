"""Copied upstreams in the resource graph `pulumi up` registers, under Pulumi's mock runtime.

What a `CopiedImage`'s create does is `warm/operations.py`'s (under mocks it never runs): here, what
is registered, with which inputs, after what, and what the stack exports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.model.image_lock import LockedImage, LockedTag, lock_path_for, render_lock
from components.program.lambda_package import PLACEHOLDER_FILE
from components.program.plan import plan_stack
from components.warm.lambda_handler import CATALOGUE_FILE, PackagedCatalogue
from tests.conftest import WARMED_DIGEST, ProgramRun, RunProgram, unwrap

HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
COPIED = "pulumi-python:dynamic/ecr:CopiedImage"
WARMED = "pulumi-python:dynamic/ecr:WarmedImage"
TEMPLATE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
POLICY = "aws:iam/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
NO_ENDPOINTS: dict[str, Any] = {"endpoints": {"enabled": False}}
TOKEN = "nvapi-NEVER-PRINT-4711"
STACK: dict[str, Any] = {
    "upstreams": {
        "quay.io": {},
        "nvcr.io": {"mode": "copy", "prefix": "nvcr", "username": "$oauthtoken"},
        "mcr.microsoft.com": {"mode": "copy", "prefix": "mcr"},
    },
    **NO_ENDPOINTS,
}
IMAGES = (
    "- quay.io/argoproj/argocd:v2.7.3\n"
    "- nvcr.io/nvidia/cuda:12.4.1-base\n"
    f"- mcr.microsoft.com/dotnet/runtime:8.0@sha256:{'e' * 64}\n"
)
CUDA = "nvcr.io/nvidia/cuda:12.4.1-base"
COPY_PROPS = {
    "source",
    "upstream_url",
    "credential_secret",
    "registry_url",
    "repository",
    "tag",
    "cache_reference",
    "platforms",
    "prune",
}


def run_copies(
    run_program: RunProgram, values: dict[str, Any] | None = None, images: str = IMAGES
) -> ProgramRun:
    return run_program(values or STACK, images=images, secrets={"nvcr-token": TOKEN})


def test_each_copied_tag_is_a_copied_image_with_plain_props(run_program: RunProgram) -> None:
    run = run_copies(run_program)
    copied = dict(run.of_type(COPIED))
    assert set(copied) == {
        f"copy-{CUDA}",
        "copy-mcr.microsoft.com/dotnet/runtime:8.0",
    }, "one per copied tag, named as warm-... is, without the digest"
    cuda = copied[f"copy-{CUDA}"]
    # None-valued inputs do not travel to the provider: the operations read them with `.get`.
    assert {key: cuda.get(key) for key in COPY_PROPS} == {
        "source": CUDA,
        "upstream_url": "https://nvcr.io",
        "credential_secret": "ecr-pullthroughcache/nvcr",
        "registry_url": f"https://{HOST}/nvcr",
        "repository": "nvidia/cuda",
        "tag": "12.4.1-base",
        "cache_reference": f"{HOST}/nvcr/nvidia/cuda:12.4.1-base",
        "platforms": None,
        "prune": False,
    }
    assert set(cuda) - COPY_PROPS == {"__provider"}
    runtime = copied["copy-mcr.microsoft.com/dotnet/runtime:8.0"]
    assert runtime["source"] == f"mcr.microsoft.com/dotnet/runtime:8.0@sha256:{'e' * 64}", (
        "the pin stays in source"
    )
    assert runtime.get("credential_secret") is None, "an anonymous upstream has no secret"
    assert runtime["cache_reference"] == f"{HOST}/mcr/dotnet/runtime:8.0", "copied by tag"
    (warmed,) = [inputs for _, inputs in run.of_type(WARMED)]
    assert cuda["__provider"] == warmed["__provider"], "the same provider, pickled once"
    assert TOKEN not in json.dumps(copied)


def test_a_copy_waits_for_its_template_and_its_login(run_program: RunProgram) -> None:
    run = run_copies(run_program)
    (copy,) = [r for r in run.plan.resources if r.name == f"copy-{CUDA}"]
    assert copy.parent == "warm"
    assert {"templates-nvcr", "copies-credential-nvcr", "cache-rule-quay"} <= set(copy.depends_on)


@pytest.mark.parametrize("backend", ["docker", "command"])
def test_copies_use_the_provider_whatever_the_backend(run_program: RunProgram, backend: str) -> None:
    warm: dict[str, Any] = {"backend": backend}
    if backend == "command":
        warm["pullCommand"] = "crane digest $IMAGE"
    run = run_copies(run_program, {**STACK, "warm": warm})
    assert len(run.of_type(COPIED)) == 2
    assert run.of_type(WARMED) == []
    (cuda,) = [inputs for name, inputs in run.of_type(COPIED) if name == f"copy-{CUDA}"]
    assert cuda["__provider"], "the provider is pickled for the copies"


def test_no_copy_without_warming_and_images_keep_the_catalogue_pins(run_program: RunProgram) -> None:
    run = run_copies(run_program, {**STACK, "warm": {"enabled": False}})
    assert run.of_type(COPIED) == []
    images = run.plan.outputs["images"]
    assert images[CUDA] == f"{HOST}/nvcr/nvidia/cuda:12.4.1-base"
    pinned = f"mcr.microsoft.com/dotnet/runtime:8.0@sha256:{'e' * 64}"
    assert images[pinned] == f"{HOST}/mcr/dotnet/runtime:8.0@sha256:{'e' * 64}"


def test_every_tag_the_lock_holds_for_a_selector_on_a_copy_is_copied(
    run_program: RunProgram, tmp_path: Path
) -> None:
    selector = "semver '>=12.4 <12.5'"
    tags = (
        LockedTag("12.4.0", "sha256:" + "a" * 64, selector),
        LockedTag("12.4.1", "sha256:" + "b" * 64, selector),
    )
    locked = LockedImage("nvcr.io/nvidia/cuda", selector, tags)
    lock_path_for(tmp_path / "images.yaml").write_text(render_lock({locked.image: locked}))
    images = "- image: nvcr.io/nvidia/cuda\n  semver: '>=12.4 <12.5'\n"
    run = run_copies(run_program, images=images)
    assert {name for name, _ in run.of_type(COPIED)} == {
        "copy-nvcr.io/nvidia/cuda:12.4.0",
        "copy-nvcr.io/nvidia/cuda:12.4.1",
    }


def test_copy_prefixes_get_create_on_push_templates_like_the_caches(run_program: RunProgram) -> None:
    values = {
        **STACK,
        "access": {"accountIds": ["111111111111"]},
        "templates": {
            "resourceTags": {"team": "platform"},
            "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
            "mutabilityExclusions": ["latest"],
        },
    }
    run = run_copies(run_program, values)
    templates = dict(run.of_type(TEMPLATE))
    assert set(templates) == {"templates-quay", "templates-nvcr", "templates-mcr"}
    quay, nvcr = templates["templates-quay"], templates["templates-nvcr"]
    assert quay["appliedFors"] == ["PULL_THROUGH_CACHE"]
    assert nvcr["appliedFors"] == ["CREATE_ON_PUSH"]
    same = {key: value for key, value in quay.items() if key not in ("prefix", "appliedFors")}
    assert {key: value for key, value in nvcr.items() if key not in ("prefix", "appliedFors")} == same, (
        "lifecycle policy, repository policy, encryption, mutability, tags and role as the cache's"
    )
    assert nvcr["repositoryPolicy"] and nvcr["customRoleArn"] and nvcr["resourceTags"] == {"team": "platform"}
    by_name = {r.name: r for r in run.plan.resources}
    assert by_name["templates-nvcr"].alias_urns == [], "a new resource: no older name"
    assert by_name["templates-nvcr"].delete_before_replace


def test_a_copy_login_is_a_secret_like_the_rules_and_an_anonymous_copy_has_none(
    run_program: RunProgram,
) -> None:
    run = run_copies(run_program)
    secret = run.inputs(SECRET, "copies-credential-nvcr")
    assert secret["name"] == "ecr-pullthroughcache/nvcr"
    assert "kmsKeyId" not in secret
    version = run.inputs(SECRET_VERSION, "copies-credential-nvcr")
    assert version["secretString"] != unwrap(version["secretString"]), "the value stays secret"
    assert json.loads(unwrap(version["secretString"])) == {"username": "$oauthtoken", "accessToken": TOKEN}
    assert {name for name, _ in run.of_type(SECRET)} == {"copies-credential-nvcr"}
    assert TOKEN not in json.dumps(run.plan.as_json())
    arns = run.plan.outputs["credential_secret_arns"]
    assert set(arns) == {"nvcr"} and arns["nvcr"].endswith(":copies-credential-nvcr")


def test_an_existing_copy_secret_is_adopted(run_program: RunProgram) -> None:
    values = {
        "upstreams": {
            "nvcr.io": {"mode": "copy", "prefix": "nvcr", "credentialSecret": "ecr-pullthroughcache/ngc"}
        },
        **NO_ENDPOINTS,
    }
    run = run_program(values, images=f"- {CUDA}\n")
    assert run.of_type(SECRET) == []
    (copy,) = [inputs for _, inputs in run.of_type(COPIED)]
    assert copy["credential_secret"] == "ecr-pullthroughcache/ngc"
    assert run.plan.outputs["credential_secret_arns"] == {
        "nvcr": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/ngc-AbCdEf"
    }


def test_the_outputs_tell_copies_apart(run_program: RunProgram) -> None:
    outputs = run_copies(run_program).plan.outputs
    assert outputs["cache_prefixes"] == {
        "mcr.microsoft.com": f"{HOST}/mcr",
        "nvcr.io": f"{HOST}/nvcr",
        "quay.io": f"{HOST}/quay",
    }
    assert outputs["copy_prefixes"] == {"mcr.microsoft.com": f"{HOST}/mcr", "nvcr.io": f"{HOST}/nvcr"}
    assert outputs["rules"] == {"quay": "quay.io"}, "rules stays the pull-through rules"
    assert outputs["images"][CUDA] == f"{HOST}/nvcr/nvidia/cuda:12.4.1-base@{WARMED_DIGEST}"
    assert set(outputs["images"]) == {
        "quay.io/argoproj/argocd:v2.7.3",
        CUDA,
        f"mcr.microsoft.com/dotnet/runtime:8.0@sha256:{'e' * 64}",
    }
    kustomized = {entry["newName"] for entry in outputs["kustomize_images"]}
    assert f"{HOST}/nvcr/nvidia/cuda" in kustomized


def test_nodes_may_pull_the_copies_and_push_nothing(run_program: RunProgram) -> None:
    run = run_copies(run_program)
    (policy,) = [inputs for _, inputs in run.of_type(POLICY)]
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    assert statements["PullCopies"]["Resource"] == [
        "arn:aws:ecr:eu-west-1:123456789012:repository/mcr/*",
        "arn:aws:ecr:eu-west-1:123456789012:repository/nvcr/*",
    ]
    actions = {a for s in statements.values() for a in s["Action"]}
    assert not actions & {
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
    }


def test_existing_copy_repositories_get_the_repository_policy_after_the_copy(run_program: RunProgram) -> None:
    values = {**STACK, "access": {"accountIds": ["111111111111"], "applyToExistingRepositories": True}}
    run = run_copies(run_program, values)
    policies = {inputs["repository"] for _, inputs in run.of_type(REPOSITORY_POLICY)}
    assert policies == {"quay/argoproj/argocd", "nvcr/nvidia/cuda", "mcr/dotnet/runtime"}
    (nvcr,) = [r for r in run.plan.resources if r.type == REPOSITORY_POLICY and "nvcr" in r.name]
    assert f"copy-{CUDA}" in nvcr.depends_on


def test_the_scheduled_function_copies_with_its_own_grants(run_program: RunProgram) -> None:
    run = run_copies(run_program, {**STACK, "warm": {"schedule": "rate(1 day)"}})
    function = run.planned("aws:lambda/function:Function", "warm-schedule-function")
    assets = function["code"]["assets"]
    assert PLACEHOLDER_FILE in assets, "the offline plan packages a placeholder, with the real catalogue"
    catalogue = PackagedCatalogue.model_validate_json(assets[CATALOGUE_FILE]["text"])
    by_source = {image.source: image for shard in catalogue.shards for image in shard}
    cuda = by_source[CUDA]
    assert (cuda.upstream_url, cuda.credential_secret) == ("https://nvcr.io", "ecr-pullthroughcache/nvcr")
    assert (cuda.registry_url, cuda.repository, cuda.tag) == (
        f"https://{HOST}/nvcr",
        "nvidia/cuda",
        "12.4.1-base",
    )
    argocd = by_source["quay.io/argoproj/argocd:v2.7.3"]
    assert (argocd.upstream_url, argocd.credential_secret) == (None, None)
    role_policy = json.loads(run.inputs(ROLE_POLICY, "warm-schedule-function")["policy"])
    statements = {s["Sid"]: s for s in role_policy["Statement"]}
    assert statements["CopyIntoEcr"]["Resource"] == [
        "arn:aws:ecr:eu-west-1:123456789012:repository/mcr/*",
        "arn:aws:ecr:eu-west-1:123456789012:repository/nvcr/*",
    ]
    assert statements["ReadCopyLogins"]["Resource"] == [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/nvcr-??????"
    ]
    (rewarming,) = [r for r in run.plan.resources if r.name == "warm-schedule"]
    assert {"copies-credential-nvcr", "templates-nvcr"} <= set(rewarming.depends_on)


def test_a_stack_that_only_copies(run_program: RunProgram) -> None:
    values = {"upstreams": {"mcr.microsoft.com": {"mode": "copy", "prefix": "mcr"}}, **NO_ENDPOINTS}
    run = run_program(values, images="- mcr.microsoft.com/dotnet/runtime:8.0\n")
    assert run.plan.outputs["rules"] == {}
    assert run.plan.outputs["copy_prefixes"] == {"mcr.microsoft.com": f"{HOST}/mcr"}
    assert [name for name, _ in run.of_type(COPIED)] == ["copy-mcr.microsoft.com/dotnet/runtime:8.0"]
    assert run.of_type("aws:ecr/registryPolicy:RegistryPolicy") == []


def test_the_shipped_stacks_copy_nothing() -> None:
    for stack in ("dev", "prod"):
        plan = plan_stack(stack)
        assert plan.outputs["copy_prefixes"] == {}
        assert not [r for r in plan.resources if r.type == COPIED]


def test_a_copy_prefix_leaves_the_cache_templates_older_names_alone(run_program: RunProgram) -> None:
    """`templates-team-k8s` (the copy's) is a new name; the cache template of `team/k8s` still
    answers to `template-team-k8s`, the name it had before the re-layout."""
    values = {
        "upstreams": {"quay.io": {"prefix": "team/k8s"}, "nvcr.io": {"mode": "copy", "prefix": "team-k8s"}},
        **NO_ENDPOINTS,
    }
    by_name = {r.name: r for r in run_program(values).plan.resources}
    assert by_name["templates-team/k8s"].as_json()["aliases"] == ["template-team-k8s", "template-team/k8s"]
    assert by_name["templates-team-k8s"].as_json()["aliases"] == []


def test_a_token_realm_travels_with_its_copies_to_every_runner(run_program: RunProgram) -> None:
    realm = "https://gitlab.example.com/jwt/auth"
    nvcr = {"mode": "copy", "prefix": "nvcr", "username": "$oauthtoken", "tokenRealm": realm}
    values = {
        **STACK,
        "upstreams": {**STACK["upstreams"], "nvcr.io": nvcr},
        "warm": {"schedule": "rate(1 day)"},
    }
    run = run_copies(run_program, values)
    copied = dict(run.of_type(COPIED))
    assert copied[f"copy-{CUDA}"]["token_realm"] == realm
    assert "token_realm" not in copied["copy-mcr.microsoft.com/dotnet/runtime:8.0"], (
        "a copy without one keeps the inputs it had"
    )
    function = run.planned("aws:lambda/function:Function", "warm-schedule-function")
    text = function["code"]["assets"][CATALOGUE_FILE]["text"]
    catalogue = PackagedCatalogue.model_validate_json(text)
    by_source = {image.source: image for shard in catalogue.shards for image in shard}
    assert by_source[CUDA].token_realm == realm
    assert text.count('"token_realm"') == 1, "left out where unset, so the package stays as it was"
