"""One module redacts URLs for messages; no login, signature or token reaches a message through it."""

from __future__ import annotations

import pytest

from components.redaction import redact, redact_userinfo


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@registry.example/v2/a?X-Amz-Signature=s#f", "https://registry.example/v2/a"),
        ("https://registry.example", "https://registry.example"),
        ("registry.example/v2?token=t", "registry.example/v2"),
    ],
)
def test_a_url_is_shown_without_login_query_or_fragment(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_text_keeps_its_urls_but_not_their_logins() -> None:
    text = "failed: https://bot:s3cret@quay.io/v2/ and http://a@b/c"
    assert redact_userinfo(text) == "failed: https://***@quay.io/v2/ and http://***@b/c"
