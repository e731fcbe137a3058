"""Every way a registry exchange fails, as one tree (drawn as httpx's `_exceptions.py` draws its own).

* RegistryError - a registry did not give what was asked for; the image fails, named, alone.
  + ResponseError - it answered with an error status (`status`).
    - RetryableResponse - 429 or 5xx: worth another try, after `retry_after` seconds.
    - CredentialRefused - 401/403 after logging in, or a login it asks for and nobody gave.
  + TransportError - the connection failed, was reset or broke off mid-answer (retried).
    - TransferStalled - a blob's body stopped arriving, or arrives too slowly (retried once).
  + DeadlineExceeded - no complete answer, or no answer's headers, within the request's deadline.
  + BodyTooLarge - an answer longer than its cap, or a blob longer than its manifest declares.
  + DigestMismatch - content that does not hash to its digest: truncated or corrupted.
  + MalformedManifest - a manifest, index or digest that does not follow the OCI shapes.
  + TooManyManifests - an index that lists more manifests than the cap.
  + UnsafeRedirect - a redirect to plain HTTP off loopback, or one redirect too many.
  + PinMoved - the tag serves another digest than the catalogue pins (`name:tag@sha256:...`).
* BlobNotKept - the cache relayed a blob but has not stored it yet (the warm looks again).

Messages never hold a credential, and name URLs only as `components.redaction.redact` prints them.
"""

from __future__ import annotations


class RegistryError(Exception):
    """A registry did not give what was asked for."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ResponseError(RegistryError):
    """The registry answered with an error status."""


class RetryableResponse(ResponseError):
    """429 or 5xx: worth another try, after `retry_after` seconds when the registry says so."""

    def __init__(self, message: str, status: int, retry_after: float | None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class CredentialRefused(ResponseError):
    """The registry or its token service refused the login, or asked for one nobody configured."""


class TransportError(RegistryError):
    """The connection failed, was reset, or broke off mid-answer: worth another try."""


class TransferStalled(TransportError):
    """A blob's body stopped arriving, or arrives below the speed floor (`limits.Limits`): a dead
    connection, dropped and tried once more, not a slow link, which is given all the time it needs."""


class DeadlineExceeded(RegistryError):
    """No complete small answer, or no answer's headers, within the request's deadline: a stalled,
    trickling or endless manifest, token or header."""


class BodyTooLarge(RegistryError):
    """An answer longer than its cap allows, or a blob longer than its manifest declares."""


class DigestMismatch(RegistryError):
    """Content that does not hash to its digest: a truncated or corrupted transfer."""


class MalformedManifest(RegistryError):
    """A manifest, index or digest that does not follow the OCI image spec's shapes."""


class TooManyManifests(RegistryError):
    """An index listing more manifests than the warm follows."""


class UnsafeRedirect(RegistryError):
    """A redirect the client will not follow: to plain HTTP off loopback, or too many of them."""


class PinMoved(RegistryError):
    """The cache serves another digest for the tag than the catalogue pins: the upstream moved it."""


class BlobNotKept(Exception):
    """The cache relayed a blob but has not stored it (yet); look again after `wait` seconds."""

    def __init__(self, message: str, wait: float = 0.0) -> None:
        super().__init__(message)
        self.wait = wait
