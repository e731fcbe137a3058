"""The digest checks after a warm: locked digests against what the cache serves, and workload pins."""

from __future__ import annotations

from components.model.catalogue import CatalogueEntry
from components.model.discovery import FoundImage
from components.model.image_lock import WarmTag
from components.model.images import ImageRef
from components.warm.manifests import Manifest
from components.warm.pin_checks import (
    PinFinding,
    held_digests,
    locked_digest_findings,
    served_digests,
    uncached_pin_findings,
)
from components.warm.targets import WarmResult, WarmTarget

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def result(
    tag: str, digest: str | None, children: tuple[str, ...] = (), error: str | None = None
) -> WarmResult:
    ref = ImageRef("docker.io", "library/nginx", tag)
    manifests = [
        Manifest(d, "application/vnd.oci.image.manifest.v1+json", b"") for d in (digest or "", *children) if d
    ]
    return WarmResult(WarmTarget(ref, "library/nginx", tag), digest=digest, manifests=manifests, error=error)


def locked(tag: str, digest: str | None) -> WarmTag:
    return WarmTag(
        CatalogueEntry(ImageRef("docker.io", "library/nginx", tag), None, "images.yaml", 1), digest
    )


def test_a_locked_digest_the_cache_does_not_serve_is_named_with_what_to_do() -> None:
    results = [result("1.27.3", D1), result("1.27.2", D3), result("1.26.0", None, error="boom")]
    served = served_digests(results)
    assert served == {"docker.io/library/nginx:1.27.3": D1, "docker.io/library/nginx:1.27.2": D3}
    findings = locked_digest_findings(
        [locked("1.27.3", D1), locked("1.27.2", D2), locked("1.26.0", D2), locked("latest", None)],
        served,
        lock_command="python -m components lock --stack dev",
    )
    assert [f.image for f in findings] == ["docker.io/library/nginx:1.27.2"]
    assert f"the lock says {D2}, the cache serves {D3}" in str(findings[0])
    assert "python -m components lock --stack dev" in findings[0].message


def test_pins_the_cache_does_not_hold_are_named_where_they_are_used() -> None:
    held = held_digests([result("1.27.3", D1, children=(D2,)), result("x", None, error="boom")])
    assert held == {"docker.io/library/nginx": {D1, D2}}
    found = [
        FoundImage(f"nginx:1.27.3@{D2}", "a.yaml", 3, "Deployment/web"),  # a platform manifest: held
        FoundImage(f"nginx@{D3}", "a.yaml", 9, "Deployment/web"),
        FoundImage(f"docker.io/library/nginx@{D3}", "b.yaml", 4, "Job/migrate"),
        FoundImage(f"redis:7@{D1}", "b.yaml", 8, "StatefulSet/cache"),
        FoundImage("nginx:1.27.3", "b.yaml", 12, "Pod/plain"),  # no pin
        FoundImage("Not An Image", "b.yaml", 14, "Pod/bad"),
    ]
    findings = uncached_pin_findings(found, held)
    assert [f.image for f in findings] == [f"docker.io/library/nginx@{D3}", f"docker.io/library/redis:7@{D1}"]
    assert findings[0].places == ("a.yaml:9 Deployment/web", "b.yaml:4 Job/migrate")
    assert "add the tag this digest came from" in findings[0].message
    assert "warm docker.io/library/redis:7 while it still points at this digest" in findings[1].message
    assert str(PinFinding("x", "m", ("a:1 Pod/p",))) == "x: m (used at a:1 Pod/p)"
