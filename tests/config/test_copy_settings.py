"""`mode: copy` upstreams: accepted with a prefix, refused with the key, line and fix otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.config.load import build_settings, load_stack_settings
from components.config.settings import CopyUpstreamSettings, StackSettings
from components.errors import InputError
from tests.config.test_settings import PUBLIC, error_for, raw, settings_for

ROOT = Path(__file__).resolve().parents[2]
NVCR: dict[str, Any] = {"mode": "copy", "prefix": "nvcr", "username": "$oauthtoken"}
MCR: dict[str, Any] = {"mode": "copy", "prefix": "mcr"}
CATALOGUE = "- quay.io/a/b:1\n- nvcr.io/nvidia/cuda:12.4.1-base\n- mcr.microsoft.com/dotnet/runtime:8.0\n"
TOKEN = "nvapi-NEVER-PRINT-4711"


def copies_stack(tmp_path: Path, **extra: Any) -> StackSettings:
    values = {
        "upstreams": {**PUBLIC, "nvcr.io": NVCR, "mcr.microsoft.com": MCR},
        "nvcr-token": TOKEN,
        **extra,
    }
    return settings_for(values, tmp_path, CATALOGUE, secrets=("nvcr-token",))  # type: ignore[no-any-return]


def test_copy_upstreams_are_settings_of_their_own_not_rules(tmp_path: Path) -> None:
    settings = copies_stack(tmp_path)
    assert settings.copy_prefixes() == {"nvcr.io": "nvcr", "mcr.microsoft.com": "mcr"}
    assert settings.cache_prefixes() == {"public.ecr.aws": "ecr-public", "quay.io": "quay"}, (
        "the warm CLI builds its mirrors from the rules alone"
    )
    nvcr, mcr = settings.copies
    assert isinstance(nvcr, CopyUpstreamSettings)
    assert (nvcr.registry, nvcr.prefix) == ("nvcr.io", "nvcr")
    assert nvcr.credential is not None
    assert nvcr.credential.secret_name == "ecr-pullthroughcache/nvcr"
    assert nvcr.credential.username == "$oauthtoken"
    assert nvcr.credential.token is not None and nvcr.credential.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert mcr == CopyUpstreamSettings("mcr.microsoft.com", "mcr"), "no login: read anonymously"
    assert [str(entry.ref.registry) for entry in settings.images] == [
        "quay.io",
        "nvcr.io",
        "mcr.microsoft.com",
    ]


def test_an_existing_secret_is_adopted(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/ngc-AbCdEf"
    values = {"upstreams": {"nvcr.io": {"mode": "copy", "prefix": "nvcr", "credentialSecret": arn}}}
    (copy,) = settings_for(values, tmp_path, "").copies
    assert copy.credential is not None and copy.credential.existing == arn and copy.credential.token is None


def test_an_unsupported_host_without_mode_copy_names_the_fix(tmp_path: Path) -> None:
    message = error_for({"upstreams": {**PUBLIC, "nvcr.io": {}}}, tmp_path)
    assert (
        "ecr-pull-through-cache:upstreams.nvcr.io: 'nvcr.io' is not an upstream ECR pull-through cache supports"
        in (message)
    )
    assert (
        "set ecr-pull-through-cache:upstreams.nvcr.io.mode: copy and ecr-pull-through-cache:upstreams.nvcr.io.prefix"
        in (message)
    )
    assert "(for example nvcr)" in message


def test_a_catalogued_image_from_an_unsupported_host_names_mode_copy(tmp_path: Path) -> None:
    message = error_for({"upstreams": PUBLIC}, tmp_path, "- quay.io/a/b:1\n- gcr.io/x/y:1\n")
    assert "images.yaml:2: gcr.io/x/y:1: registry 'gcr.io' is not a supported upstream" in message
    assert "add gcr.io under ecr-pull-through-cache:upstreams with mode: copy and a prefix" in message


@pytest.mark.parametrize("registry", ["quay.io", "docker.io", "333333333333.dkr.ecr.eu-west-1.amazonaws.com"])
def test_mode_copy_on_a_host_the_cache_supports_is_refused(tmp_path: Path, registry: str) -> None:
    message = error_for({"upstreams": {registry: {"mode": "copy", "prefix": "mirror"}}}, tmp_path, "")
    assert (
        f"upstreams.{registry}.mode: {registry} is an upstream ECR's pull-through cache supports" in message
    )
    assert "remove mode: copy" in message


@pytest.mark.parametrize(
    ("registry", "message"),
    [
        ("index.docker.io", "is Docker Hub, which the pull-through cache serves as 'docker.io'"),
        ("nvcr", "is not a registry host as image references name it"),
        ("Nvcr.io/x", "is not a registry host as image references name it"),
    ],
)
def test_a_copied_upstream_is_keyed_by_its_registry_host(tmp_path: Path, registry: str, message: str) -> None:
    assert message in error_for({"upstreams": {registry: {"mode": "copy", "prefix": "mirror"}}}, tmp_path, "")


def test_a_copied_upstream_needs_a_prefix(tmp_path: Path) -> None:
    message = error_for({"upstreams": {"docker.elastic.co": {"mode": "copy"}}}, tmp_path, "")
    assert "upstreams.docker.elastic.co.prefix: a copied upstream needs a prefix" in message
    assert "for example docker" in message


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("n", "ECR allows 2 to 30"),
        ("NVCR", "is not valid"),
        ("ROOT", "prefix ROOT is for an ECR private upstream's rule only"),
    ],
)
def test_a_copy_prefix_follows_the_rules_grammar(tmp_path: Path, prefix: str, message: str) -> None:
    text = error_for({"upstreams": {"nvcr.io": {"mode": "copy", "prefix": prefix}}}, tmp_path, "")
    assert "ecr-pull-through-cache:upstreams.nvcr.io.prefix" in text
    assert message in text


def test_copy_and_cache_prefixes_share_one_namespace(tmp_path: Path) -> None:
    message = error_for(
        {"upstreams": {"quay.io": {}, "nvcr.io": {"mode": "copy", "prefix": "quay"}}}, tmp_path
    )
    assert "upstreams.nvcr.io.prefix: prefix 'quay' is already used by quay.io" in message


def test_no_two_prefixes_read_one_token_key_when_one_logs_in_with_a_token(tmp_path: Path) -> None:
    copied = {"mode": "copy", "prefix": "team-quay", "username": "$oauthtoken"}
    values = {"upstreams": {"quay.io": {"prefix": "team/quay"}, "nvcr.io": copied}, "team-quay-token": TOKEN}
    message = error_for(values, tmp_path, "", secrets=("team-quay-token",))
    assert (
        "upstreams.nvcr.io.prefix: prefix 'team-quay' and quay.io's prefix 'team/quay' would both read "
        "their token from team-quay-token"
    ) in message
    assert TOKEN not in message
    values = {"upstreams": {"ghcr.io": {"prefix": "a-b", "username": "u"}, "quay.io": {"prefix": "a/b"}}}
    message = error_for(values | {"a-b-token": TOKEN}, tmp_path, "", secrets=("a-b-token",))
    assert "upstreams.quay.io.prefix: prefix 'a/b' and ghcr.io's prefix 'a-b' would both read" in message


def test_prefixes_that_differ_by_a_slash_are_fine_without_tokens(tmp_path: Path) -> None:
    values = {
        "upstreams": {"quay.io": {"prefix": "team/k8s"}, "nvcr.io": {"mode": "copy", "prefix": "team-k8s"}}
    }
    assert [copy.prefix for copy in settings_for(values, tmp_path, "").copies] == ["team-k8s"]


@pytest.mark.parametrize(
    ("cache", "copy"), [("quay", "quay/nvcr"), ("team/quay", "team"), ("team/quay", "team/quay/x")]
)
def test_no_copy_prefix_nests_with_another(tmp_path: Path, cache: str, copy: str) -> None:
    values = {"upstreams": {"quay.io": {"prefix": cache}, "nvcr.io": {"mode": "copy", "prefix": copy}}}
    message = error_for(values, tmp_path)
    assert f"upstreams.nvcr.io.prefix: prefix {copy!r} and quay.io's prefix {cache!r} nest" in message
    settings_for(
        {"upstreams": {"quay.io": {"prefix": cache}, "nvcr.io": {"mode": "copy", "prefix": "nv"}}}, tmp_path
    )


def test_copies_do_not_count_against_the_fifty_rules(tmp_path: Path) -> None:
    upstreams: dict[str, Any] = {f"{n:012d}.dkr.ecr.eu-west-1.amazonaws.com": {} for n in range(50)}
    upstreams |= {f"registry{n}.example.com": {"mode": "copy", "prefix": f"copy{n}"} for n in range(5)}
    roles = {"roleArn": "arn:aws:iam::123456789012:role/upstream"}
    upstreams = {key: {**value, **roles} if "dkr.ecr" in key else value for key, value in upstreams.items()}
    settings = settings_for({"upstreams": upstreams}, tmp_path, "")
    assert len(settings.rules) == 50 and len(settings.copies) == 5


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"roleArn": "arn:aws:iam::123456789012:role/x"}, "roleArn"),
        ({"upstreamRepositoryPrefix": "golden"}, "upstreamRepositoryPrefix"),
    ],
)
def test_options_only_ecr_upstreams_take_are_refused(
    tmp_path: Path, options: dict[str, str], key: str
) -> None:
    message = error_for({"upstreams": {"nvcr.io": {**MCR, **options}}}, tmp_path, "")
    assert f"upstreams.nvcr.io.{key}: is only meaningful for an ECR private upstream" in message


def test_a_username_needs_its_token_and_a_token_its_username(tmp_path: Path) -> None:
    message = error_for({"upstreams": {"nvcr.io": NVCR}}, tmp_path, "")
    assert "ecr-pull-through-cache:nvcr-token: the access token for nvcr.io is not set" in message
    assert "pulumi config set --secret ecr-pull-through-cache:nvcr-token <access token>" in message
    message = error_for(
        {"upstreams": {"nvcr.io": MCR | {"prefix": "nvcr"}}, "nvcr-token": TOKEN},
        tmp_path,
        "",
        secrets=("nvcr-token",),
    )
    assert (
        "upstreams.nvcr.io.username: nvcr-token is set, but nvcr.io has no username to go with it" in message
    )
    assert TOKEN not in message


def test_a_plain_text_token_is_refused_for_a_copy_too(tmp_path: Path) -> None:
    message = error_for({"upstreams": {"nvcr.io": NVCR}, "nvcr-token": TOKEN}, tmp_path, "")
    assert "ecr-pull-through-cache:nvcr-token: an access token is stored in plain text" in message
    assert TOKEN not in message


def test_validate_names_the_missing_copy_secret(tmp_path: Path) -> None:
    (tmp_path / "images.yaml").write_text("")
    settings = build_settings(raw({"upstreams": {"nvcr.io": NVCR}}), placeholder_secrets=True, root=tmp_path)
    assert settings.missing_secrets == (
        "pulumi config set --secret ecr-pull-through-cache:nvcr-token <access token>",
    )


def test_rotation_applies_to_a_copy_with_a_login_only(tmp_path: Path) -> None:
    values = {"upstreams": {"nvcr.io": {**NVCR, "rotateAfterDays": 30}}, "nvcr-token": TOKEN}
    settings = settings_for(values, tmp_path, "", secrets=("nvcr-token",))
    assert settings.copies[0].rotate_after_days == 30
    message = error_for({"upstreams": {"mcr.microsoft.com": {**MCR, "rotateAfterDays": 30}}}, tmp_path, "")
    assert (
        "upstreams.mcr.microsoft.com.rotateAfterDays: only an upstream with a Secrets Manager credential"
        in message
    )


def test_a_copied_entry_with_platforms_is_refused_with_its_line(tmp_path: Path) -> None:
    images = (
        "- quay.io/a/b:1\n- image: nvcr.io/nvidia/cuda\n  tags: ['12.4.1-base']\n  platforms: [linux/amd64]\n"
    )
    message = error_for({"upstreams": {**PUBLIC, "nvcr.io": MCR | {"prefix": "nvcr"}}}, tmp_path, images)
    assert (
        "images.yaml:3: nvcr.io/nvidia/cuda:12.4.1-base: nvcr.io is copied, and a copy is pushed byte for byte"
        in message
    )
    assert "remove `platforms` from this entry" in message


def test_alerts_need_a_cached_upstream(tmp_path: Path) -> None:
    message = error_for(
        {"upstreams": {"nvcr.io": MCR}, "alerts": {"emails": ["a@example.com"]}}, tmp_path, ""
    )
    assert "ecr-pull-through-cache:alerts: alerts report the pull-through cache's failed syncs" in message
    settings_for({"upstreams": {"nvcr.io": MCR}}, tmp_path, "- nvcr.io/nvidia/cuda:12\n")


def test_mode_must_be_cache_or_copy(tmp_path: Path) -> None:
    message = error_for({"upstreams": {"nvcr.io": {"mode": "mirror", "prefix": "nvcr"}}}, tmp_path, "")
    assert "ecr-pull-through-cache:upstreams.nvcr.io.mode: Input should be 'cache' or 'copy'" in message


def test_a_stack_file_with_a_copy_reports_its_line(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "images.yaml").write_text("")
    (tmp_path / "Pulumi.c.yaml").write_text(
        "config:\n"
        "  aws:region: eu-west-1\n"
        "  ecr-pull-through-cache:endpoints: {enabled: false}\n"
        "  ecr-pull-through-cache:upstreams:\n"
        "    quay.io: {}\n"
        "    nvcr.io:\n"
        "      mode: copy\n"
        "      prefix: quay\n"
    )
    with pytest.raises(InputError) as caught:
        load_stack_settings("c", root=tmp_path)
    assert (
        "Pulumi.c.yaml:8: ecr-pull-through-cache:upstreams.nvcr.io.prefix: prefix 'quay' is already used"
        in str(caught.value)
    )


def test_policy_sizes_count_the_copies(tmp_path: Path) -> None:
    """The node policy lists each prefix once per statement: 50 rules and 100 copies overflow it."""
    roles = {"roleArn": "arn:aws:iam::123456789012:role/upstream"}
    upstreams: dict[str, Any] = {f"{n:012d}.dkr.ecr.eu-west-1.amazonaws.com": roles for n in range(50)}
    copies = {
        f"registry{n}.example.com": {"mode": "copy", "prefix": f"copied-upstream-{n:03d}"} for n in range(100)
    }
    message = error_for({"upstreams": {**upstreams, **copies}}, tmp_path, "")
    assert "ecr-pull-through-cache:upstreams: the IAM managed policy would be" in message


def test_the_scheduled_functions_policy_size_is_checked_before_anything_is_registered(tmp_path: Path) -> None:
    """The function's inline policy lists the copy prefixes and secrets too: too many fail here, not at `up`."""
    copies = {
        f"registry{n}.example.com": {
            "mode": "copy",
            "prefix": f"copied-upstream-{n:03d}",
            "credentialSecret": f"ecr-pullthroughcache/a-rather-long-secret-name-for-copy-{n:03d}",
        }
        for n in range(60)
    }
    schedule = {"schedule": "rate(1 day)"}
    message = error_for({"upstreams": copies, "warm": schedule}, tmp_path, "")
    assert "ecr-pull-through-cache:upstreams: the role's inline policy would be" in message
    few = dict(list(copies.items())[:5])
    settings_for({"upstreams": few, "warm": schedule}, tmp_path, "")


GITLAB: dict[str, Any] = {
    "mode": "copy",
    "prefix": "gitlab",
    "username": "deploy-token",
    "tokenRealm": "https://gitlab.example.com/jwt/auth",
}


def test_a_token_realm_on_another_origin_is_kept_for_the_login(tmp_path: Path) -> None:
    values = {"upstreams": {"registry.example.com": GITLAB}, "gitlab-token": TOKEN}
    (copy,) = settings_for(values, tmp_path, "", secrets=("gitlab-token",)).copies
    assert copy.token_realm == "https://gitlab.example.com/jwt/auth"


@pytest.mark.parametrize(
    ("realm", "message"),
    [
        ("http://gitlab.example.com/jwt/auth", "is not an https:// URL naming a host"),
        ("gitlab.example.com", "is not an https:// URL naming a host"),
        ("https://gitlab.example.com/jwt/auth?service=x", "the URL carries a query or fragment"),
        ("https://:99999", "is not a URL"),
    ],
)
def test_a_token_realm_is_an_https_url(tmp_path: Path, realm: str, message: str) -> None:
    values = {"upstreams": {"registry.example.com": GITLAB | {"tokenRealm": realm}}, "gitlab-token": TOKEN}
    text = error_for(values, tmp_path, "", secrets=("gitlab-token",))
    assert "upstreams.registry.example.com.tokenRealm:" in text and message in text
    assert "https://<gitlab host>/jwt/auth" in text, "the fix is named"


def test_a_token_realm_with_a_login_in_it_is_refused_without_quoting_it(tmp_path: Path) -> None:
    realm = "https://user:hunter2-NEVER-PRINT@gitlab.example.com/jwt/auth"
    values = {"upstreams": {"registry.example.com": GITLAB | {"tokenRealm": realm}}, "gitlab-token": TOKEN}
    text = error_for(values, tmp_path, "", secrets=("gitlab-token",))
    assert "tokenRealm: the URL carries a user name or password" in text
    assert "hunter2" not in text


def test_a_token_realm_needs_a_login_and_a_copied_upstream(tmp_path: Path) -> None:
    anonymous = {key: value for key, value in GITLAB.items() if key != "username"}
    text = error_for({"upstreams": {"registry.example.com": anonymous}}, tmp_path, "")
    assert "upstreams.registry.example.com.tokenRealm: registry.example.com is read anonymously" in text
    cached = {"quay.io": {"prefix": "quay", "tokenRealm": "https://quay.io"}}
    text = error_for({"upstreams": cached}, tmp_path, "")
    assert "upstreams.quay.io.tokenRealm: is only meaningful for a copied upstream (mode: copy)" in text
