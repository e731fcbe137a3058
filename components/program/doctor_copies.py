"""`doctor`'s check of the copies: each catalogued copy is in ECR, at the digest its upstream serves now.

A copy holds what was copied, and nothing refreshes it but a copy run (`python -m components warm
--stack S`, `pulumi up`, the schedule): a tag deleted from ECR, or one the upstream moved since,
stays so until then. ECR is asked with DescribeImages by tag on the copy's repository
(`ImageNotFoundException`, `RepositoryNotFoundException`: missing). The upstream is asked with
`HEAD /v2/<repository>/manifests/<tag>` and its `Docker-Content-Digest`, through the project's
registry client (deadlines, caps, digests checked, the login only to the upstream's own origin),
logged in with the copy's secret, whose value never leaves the request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.config.settings import CopyUpstreamSettings, StackSettings
from components.model.ecr import EcrRegistry
from components.model.images import DEFAULT_TAG
from components.model.upstreams import api_url
from components.program.doctor_report import Finding, Passed, Report, could_not
from components.program.warming import stack_specs
from components.resources.warming import WarmSpec
from components.warm.auth import Credentials, CredentialSource
from components.warm.client import RegistryClient
from components.warm.errors import RegistryError

CHECK = "copy"


@dataclass(frozen=True)
class UpstreamAccess:
    """Where each copied upstream's API is reached: `https://<host>` unless `urls` names another
    (a loopback registry in tests, a corporate mirror); plain HTTP only on loopback."""

    urls: Mapping[str, str] = field(default_factory=dict)
    plain_http: bool = False

    def url(self, registry: str) -> str:
        return self.urls.get(registry) or api_url(registry)


@dataclass(frozen=True)
class _Upstream:
    """What the upstream answered for one tag: a digest, None (no such tag), or why it could not say."""

    digest: str | None = None
    problem: str | None = None


def _subject(spec: WarmSpec) -> str:
    return f"{spec.repository}:{spec.entry.ref.tag or DEFAULT_TAG}"


def _held(ecr: Any, spec: WarmSpec, account_id: str) -> str | None:
    """The digest ECR holds for the copy's tag, or None when it holds none."""
    try:
        answer = ecr.describe_images(
            registryId=account_id,
            repositoryName=spec.repository,
            imageIds=[{"imageTag": spec.entry.ref.tag or DEFAULT_TAG}],
        )
    except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException):
        return None
    details = answer.get("imageDetails", [])
    return str(details[0]["imageDigest"]) if details else None


def _login(secrets: Any, copy: CopyUpstreamSettings) -> tuple[Credentials | None, str | None]:
    """The copy's login from its secret, or why it could not be read (never the value)."""
    if copy.credential is None:
        return None, None
    secret = copy.credential.secret_name
    try:
        text = secrets.get_secret_value(SecretId=secret).get("SecretString")
        document = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        document = None
    except Exception as error:  # reported in full by the secrets check
        return None, f"its login secret {secret} could not be read ({type(error).__name__})"
    if not isinstance(document, dict) or not all(
        isinstance(document.get(key), str) and document[key] for key in ("username", "accessToken")
    ):
        return None, f"its login secret {secret} holds no username and accessToken"
    return (document["username"], document["accessToken"]), None


def _source(login: Credentials) -> CredentialSource:
    def credentials() -> Credentials:
        return login

    return credentials


async def _upstream_digests(
    specs: list[WarmSpec], logins: Mapping[str, Credentials | None], access: UpstreamAccess
) -> list[_Upstream]:
    """HEAD every copied tag on its upstream, one client per upstream, all at once."""
    clients: dict[str, RegistryClient] = {}
    realms = {spec.entry.ref.registry: spec.copy.token_realm for spec in specs if spec.copy is not None}
    for registry, realm in realms.items():
        login = logins.get(registry)
        clients[registry] = RegistryClient(
            access.url(registry),
            credentials=_source(login) if login is not None else None,
            plain_http=access.plain_http,
            trusted_realms=frozenset({realm}) if realm else frozenset(),
        )

    async def head(spec: WarmSpec) -> _Upstream:
        ref = spec.entry.ref
        try:
            return _Upstream(
                await clients[ref.registry].head_manifest(ref.repository, ref.tag or DEFAULT_TAG)
            )
        except RegistryError as error:
            return _Upstream(problem=str(error))

    try:
        return list(await asyncio.gather(*(head(spec) for spec in specs)))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients.values()))


def _compare(spec: WarmSpec, held: str, upstream: _Upstream, stack: str) -> Finding | None:
    """A finding when the copy cannot be compared, or lags; None when ECR holds what the upstream serves."""
    subject, ref = _subject(spec), spec.entry.ref
    if upstream.problem is not None:
        return Finding(
            CHECK,
            subject,
            f"could not ask {ref.registry} which digest tag {ref.tag} has now: {upstream.problem}",
            f"check the network path to {ref.registry} and the copy's login, then run doctor again",
        )
    if upstream.digest is None:
        return Finding(
            CHECK,
            subject,
            f"{ref.registry} no longer has {ref.name}:{ref.tag}; ECR keeps serving the copy ({held})",
            "nothing while the copy is kept; find another source before it is expired or removed",
        )
    if upstream.digest == held:
        return None
    fix = f"run `python -m components warm --stack {stack}`, which copies the tag again"
    if ref.digest is not None:
        fix = f"update the pin of {ref.name}:{ref.tag} in images.yaml (it pins {ref.digest}), then {fix}"
    return Finding(
        CHECK,
        subject,
        f"lags its upstream: ECR holds {held}, {ref.registry} now serves {upstream.digest} for tag {ref.tag}",
        fix,
    )


def _held_copies(
    report: Report, ecr: Any, specs: list[WarmSpec], account_id: str, stack: str
) -> list[tuple[WarmSpec, str]]:
    """The copies ECR holds, with their digests; each one it lacks is a finding."""
    held: list[tuple[WarmSpec, str]] = []
    for spec in specs:
        try:
            digest = _held(ecr, spec, account_id)
        except Exception as error:  # one image's error does not stop the others
            report.findings.append(could_not(CHECK, _subject(spec), error))
            continue
        if digest is not None:
            held.append((spec, digest))
            continue
        report.findings.append(
            Finding(
                CHECK,
                _subject(spec),
                f"is catalogued, but ECR holds no copy of {spec.entry.ref.name}:{spec.entry.ref.tag}",
                f"run `python -m components warm --stack {stack}` (or `pulumi up`), which copies it",
            )
        )
    return held


def check_copies(
    settings: StackSettings,
    ecr: Any,
    secrets: Any,
    account_id: str,
    *,
    access: UpstreamAccess | None = None,
) -> Report:
    """Each catalogued copy ECR lacks, and each whose tag lags the digest its upstream serves now."""
    report = Report()
    registry = EcrRegistry(account_id, settings.region).host
    specs = [spec for spec in stack_specs(settings, registry) if spec.copy is not None]
    if not specs:
        return report
    stack = settings.stack or "<stack>"
    logins: dict[str, Credentials | None] = {}
    unreadable: dict[str, str] = {}
    for copy in settings.copies:
        logins[copy.registry], problem = _login(secrets, copy)
        if problem is not None:
            unreadable[copy.registry] = problem
    comparable: list[tuple[WarmSpec, str]] = []
    for spec, digest in _held_copies(report, ecr, specs, account_id, stack):
        problem = unreadable.get(spec.entry.ref.registry)
        if problem is None:
            comparable.append((spec, digest))
            continue
        report.findings.append(
            Finding(
                CHECK,
                _subject(spec),
                f"could not compare with {spec.entry.ref.registry}: {problem}",
                "fix the secret (see its finding), then run doctor again",
            )
        )
    upstream = asyncio.run(
        _upstream_digests([spec for spec, _ in comparable], logins, access or UpstreamAccess())
    )
    for (spec, digest), answer in zip(comparable, upstream, strict=True):
        finding = _compare(spec, digest, answer, stack)
        if finding is None:
            report.passed.append(Passed(CHECK, _subject(spec)))
        else:
            report.findings.append(finding)
    return report
