"""The ECR login, `AWS:<password>` from GetAuthorizationToken, fetched once per registry and shared.

One token is valid for the whole registry (an account in a region) for 12 hours
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html), so every client of
that registry in the process, the CLI's and the dynamic provider's alike, uses the same one,
renewed an hour before it ends. The cache is per process and in memory only: the token is never
written anywhere.
"""

from __future__ import annotations

import base64
import threading
import time

from components.model.ecr import EcrRegistry
from components.warm.auth import Credentials, CredentialSource

ECR_TOKEN_LIFETIME = 12 * 3600
ECR_TOKEN_REFRESH_MARGIN = 3600

_logins: dict[str, CredentialSource] = {}
_logins_lock = threading.Lock()


def ecr_credentials(region: str) -> CredentialSource:
    """A login for ECR in `region`, renewed an hour before its 12 hours end.

    Thread-safe: the dynamic provider runs operations on several threads at once, and they must
    not each ask for a token."""
    cached: dict[str, tuple[float, Credentials]] = {}
    lock = threading.Lock()

    def fetch() -> Credentials:
        with lock:
            if "login" in cached and cached["login"][0] - time.time() > ECR_TOKEN_REFRESH_MARGIN:
                return cached["login"][1]
            import boto3

            client = boto3.client("ecr", region_name=region)
            data = client.get_authorization_token()["authorizationData"][0]
            user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
            expires = data.get("expiresAt")
            deadline = expires.timestamp() if expires else time.time() + ECR_TOKEN_LIFETIME
            cached["login"] = (deadline, (user, password))
            return user, password

    return fetch


def ecr_login(host: str) -> CredentialSource | None:
    """The shared login for an ECR registry host, or None when `host` is not ECR."""
    registry = EcrRegistry.parse(host.lower())
    if registry is None:
        return None
    with _logins_lock:
        login = _logins.get(registry.host)
        if login is None:
            login = _logins[registry.host] = ecr_credentials(registry.region)
        return login
