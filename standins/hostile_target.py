"""The hostile registry's push side: a copy target under `/v2/copies/<case>/app/...` that misbehaves
on purpose, one way per case, for the copy's safety tests (issue 21).

Like ECR, it wants a Basic login for everything under `/v2/copies/`, and answers 401 with a Basic
challenge without one. The cases:
- `good`: takes uploads and manifests as the distribution spec says, and remembers them;
- `patch-500`: every `PATCH` of an upload answers 500;
- `no-location`: opening an upload answers 202 without a `Location`;
- `elsewhere-location`: opening an upload answers 202 with a `Location` on the other origin, which
  records whether it was sent a login;
- `other-digest`: a manifest `PUT` answers 201 naming another digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Answer = Callable[..., Awaitable[None]]  # HostileRegistry._answer: (writer, status, body, head, **headers)
OTHER_DIGEST = "sha256:" + "0" * 64
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"  # the only kind the hostile registry serves


@dataclass
class CopyTarget:
    """What the target holds, per case: blob digests and manifests by reference."""

    blobs: dict[str, set[str]] = field(default_factory=dict)
    manifests: dict[str, dict[str, tuple[str, bytes]]] = field(default_factory=dict)  # (digest, body)
    uploads: dict[str, int] = field(default_factory=dict)  # session -> bytes taken

    async def serve(
        self,
        answer: Answer,
        writer: asyncio.StreamWriter,
        method: str,
        path: str,
        query: str,
        body: bytes,
        elsewhere: str,
    ) -> None:
        case, _, rest = path.removeprefix("/v2/copies/").partition("/app/")
        head = method == "HEAD"
        kind, _, reference = rest.partition("/")
        if kind == "blobs" and reference.startswith("uploads"):
            await self._upload(answer, writer, case, method, reference, query, body, elsewhere)
        elif kind == "blobs":
            held = reference in self.blobs.get(case, set())
            await answer(writer, 200 if held else 404, head=head)
        elif method == "PUT":
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self.manifests.setdefault(case, {}).update({reference: (digest, body), digest: (digest, body)})
            named = OTHER_DIGEST if case == "other-digest" else digest
            await answer(writer, 201, Docker_Content_Digest=named)
        elif (stored := self.manifests.get(case, {}).get(reference)) is None:
            await answer(writer, 404, head=head)
        else:
            await answer(
                writer, 200, stored[1], head=head, Content_Type=MANIFEST_TYPE, Docker_Content_Digest=stored[0]
            )

    async def _upload(
        self,
        answer: Answer,
        writer: asyncio.StreamWriter,
        case: str,
        method: str,
        reference: str,
        query: str,
        body: bytes,
        elsewhere: str,
    ) -> None:
        if method == "POST":
            if case == "no-location":
                await answer(writer, 202)
                return
            session = secrets.token_hex(8)
            self.uploads[session] = 0
            where = (
                f"{elsewhere}/upload/{session}"
                if case == "elsewhere-location"
                else f"/v2/copies/{case}/app/blobs/uploads/{session}"
            )
            await answer(writer, 202, Location=where)
            return
        session = reference.removeprefix("uploads/")
        if method == "PATCH":
            if case == "patch-500":
                await answer(writer, 500)
                return
            self.uploads[session] += len(body)
            taken = f"0-{self.uploads[session] - 1}"
            await answer(writer, 202, Location=f"/v2/copies/{case}/app/blobs/uploads/{session}", Range=taken)
            return
        digest = dict(pair.split("=", 1) for pair in query.split("&") if "=" in pair).get("digest", "")
        digest = digest.replace("%3A", ":")
        self.blobs.setdefault(case, set()).add(digest)
        await answer(writer, 201, Docker_Content_Digest=digest)
