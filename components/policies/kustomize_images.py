"""The `kustomize_images` output: kustomize `images` entries that point every catalogue image at the cache.

For GitOps repositories whose pods run where nodes take no containerd configuration (EKS Auto
Mode, Fargate): put the list under `images:` in a `kustomization.yaml`, and `kustomize build`
writes the same references `python -m components rewrite` writes, from the same `images` output
(model/image_map.py).

What kustomize does with an entry, read in kubernetes-sigs/kustomize at `kustomize/v5.5.0` (the
kustomize in `kubectl kustomize` 1.32), `api/internal/image/image.go` and
`api/filters/imagetag/updater.go`:

- `name` is matched as text, never normalized: `IsImageMatched` compiles
  `"^" + name + "(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$"`. So `nginx` does not match
  `docker.io/library/nginx`, and each spelling of a Docker Hub name needs its own entry
  (model/images.py's `name_spellings`).
- An entry matches a name whatever its tag, and entries apply one after another: a name-only
  entry cannot send `nginx:1.26` and `nginx:1.27` to two digests, and it would move a workload
  on a tag the catalogue does not hold onto the catalogue's digest. Since `name` is the start of
  a pattern, each entry here names the tag too (`nginx:1.27`, then an optional digest), which
  matches that tag only; and one more per digest (`nginx@sha256:...`) for workloads pinned by
  digest alone. Kustomize documents `name` as tag-less; this relies on the code above, and
  tests/program/test_kustomize.py checks it with the installed `kubectl kustomize`.
- `.` in a pattern matches any character, so dots are escaped (`docker\\.io/...`): otherwise
  `nginx:1.27` would also match a tag `1-27`.
- With `digest` alone kustomize drops the tag (`name@digest`); with `newTag` and `digest` it
  writes `name:tag@digest`. Both are given where the digest is known, so the result is the
  `images` value itself, as `rewrite` writes it, and a reviewer still sees the tag. Where no
  digest is known (warming off), `newName` alone keeps the workload's tag, and its own digest if
  it pins one; a `newTag` would only drop that digest.

Where the two differ, by what kustomize can express: a workload image without a tag (`nginx`,
which is `:latest`) cannot be told apart from every other tag of the name, so kustomize leaves
it; a workload pinned to another digest of a catalogue tag gets the cache's digest from
kustomize, while `rewrite` leaves it and lists it; kustomize reads no ephemeral containers, and
reads every `containers` list of every kind (`rewrite` reads the Pod templates `discover`
reads). README "Rewriting manifests" lists these; tests/program/test_kustomize.py checks each.
"""

from __future__ import annotations

from collections.abc import Mapping

from components.model.image_map import parse_image_map
from components.model.images import name_spellings


def name_pattern(text: str) -> str:
    """`text` as the start of kustomize's name pattern: only `.` is special in an image reference."""
    return text.replace(".", "\\.")


def kustomize_images(images: Mapping[str, str]) -> list[dict[str, str]]:
    """kustomize `images` entries for the `images` output, one per spelling of each catalogue tag
    (and per spelling at each known digest), sorted by catalogue reference."""
    entries: list[dict[str, str]] = []
    by_digest: dict[str, dict[str, str]] = {}
    for image in parse_image_map(images, source="the images output").entries:
        new_name, tag, digest = image.cache.name, image.catalogue.tag, image.digest
        for spelling in name_spellings(image.catalogue):
            if tag is not None:
                entry = {"name": name_pattern(f"{spelling}:{tag}"), "newName": new_name}
                entries.append(entry | ({"newTag": tag, "digest": digest} if digest else {}))
            if digest is not None:
                pattern = name_pattern(f"{spelling}@{digest}")
                by_digest.setdefault(pattern, {"name": pattern, "newName": new_name, "digest": digest})
    return entries + list(by_digest.values())
