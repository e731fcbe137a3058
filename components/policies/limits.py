"""How long each policy document this stack registers may be: one check, used for all of them.

Each limit is the service's own. Checking them while settings are built turns a failed
`CreatePolicy` or `SetRegistryPolicy` halfway through `pulumi up` into an error before any
resource is registered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WHITESPACE = re.compile(r"\s")
_IAM_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"


@dataclass(frozen=True)
class DocumentLimit:
    """A service's maximum size for one kind of document; IAM does not count whitespace."""

    what: str
    max_characters: int
    whitespace_counts: bool
    source: str

    def size(self, text: str) -> int:
        return len(text) if self.whitespace_counts else len(_WHITESPACE.sub("", text))

    def excess(self, text: str) -> str | None:
        """Why `text` is too long for this kind of document, or None when it fits."""
        size = self.size(text)
        if size <= self.max_characters:
            return None
        counted = "" if self.whitespace_counts else " (whitespace not counted)"
        return (
            f"the {self.what} would be {size} characters{counted}; AWS allows at most {self.max_characters}"
        )


IAM_MANAGED_POLICY = DocumentLimit("IAM managed policy", 6_144, False, _IAM_QUOTAS)
IAM_ROLE_INLINE_POLICIES = DocumentLimit("role's inline policy", 10_240, False, _IAM_QUOTAS)
# botocore's ECR model: RegistryPolicyText, RepositoryPolicyText and LifecyclePolicyText (max).
ECR_REGISTRY_POLICY = DocumentLimit("ECR registry policy", 10_240, True, "botocore ECR RegistryPolicyText")
ECR_REPOSITORY_POLICY = DocumentLimit(
    "ECR repository policy", 10_240, True, "botocore ECR RepositoryPolicyText"
)
ECR_LIFECYCLE_POLICY = DocumentLimit("ECR lifecycle policy", 30_720, True, "botocore ECR LifecyclePolicyText")
