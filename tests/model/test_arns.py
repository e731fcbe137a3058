"""ARNs are parsed in one place; a reference says whether it named a tag without being split apart."""

from __future__ import annotations

import pytest

from components.model.arns import Arn
from components.model.images import tag_given


def test_an_arn_names_its_account() -> None:
    assert Arn.parse("arn:aws:iam::123456789012:role/path/name").account == "123456789012"


def test_a_secret_arn_names_the_secret_without_its_random_suffix() -> None:
    arn = Arn.parse("arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/ghcr-AbCdEf")
    assert arn.secret_name == "ecr-pullthroughcache/ghcr"


@pytest.mark.parametrize("text", ["role/x", "arn:aws:iam"])
def test_text_that_is_not_an_arn_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ARN"):
        Arn.parse(text)


@pytest.mark.parametrize(
    ("text", "given"),
    [("nginx", False), ("nginx:1", True), ("localhost:5000/app", False), ("localhost:5000/app:2", True)],
)
def test_a_reference_says_whether_it_named_a_tag(text: str, given: bool) -> None:
    assert tag_given(text) is given
