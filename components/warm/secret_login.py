"""An upstream's login kept in a Secrets Manager secret, as the stack keeps every upstream login:
`{"username": ..., "accessToken": ...}` (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-creating-secret.html).

A copied upstream's login is read from it when the upstream first asks for one, with the caller's
own AWS credentials: the deployer's for `warm --stack` and `pulumi up`, the function's role for the
scheduled re-warming. It is never written anywhere, never logged, and never part of a message:
a secret that cannot be read is named, with why, and nothing of its value.
"""

from __future__ import annotations

import json
import threading

from components.warm.auth import Credentials, CredentialSource
from components.warm.errors import CredentialRefused


def secret_login(secret_id: str, region: str | None) -> CredentialSource:
    """The login in `secret_id` (a name or ARN), read once, on first use."""
    lock = threading.Lock()
    cached: list[Credentials] = []

    def read() -> Credentials:
        with lock:
            if not cached:
                cached.append(_read(secret_id, region))
            return cached[0]

    return read


def _read(secret_id: str, region: str | None) -> Credentials:
    import boto3
    import botocore.exceptions

    what = f"the upstream's login secret {secret_id}"
    try:
        answer = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_id)
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "an error")
        raise CredentialRefused(f"{what} could not be read: AWS answered {code}") from None
    except botocore.exceptions.BotoCoreError as error:
        raise CredentialRefused(f"{what} could not be read: {type(error).__name__}") from None
    try:
        value = json.loads(answer.get("SecretString") or "")
        user, token = value["username"], value["accessToken"]
    except (ValueError, TypeError, KeyError):
        user = token = None
    if not isinstance(user, str) or not isinstance(token, str) or not user or not token:
        raise CredentialRefused(f'{what} does not hold {{"username": ..., "accessToken": ...}}') from None
    return user, token
