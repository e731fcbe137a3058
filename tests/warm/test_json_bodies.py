"""Every way a network body fails to be JSON is named, for manifests, tag lists and token answers."""

from __future__ import annotations

import asyncio

import pytest

from components.model.image_lock import ResolveError
from components.warm.auth import RegistryAuth
from components.warm.errors import RegistryError
from components.warm.json_bodies import load_json
from components.warm.tags import parse_tags_page

DEEP = b"[" * 100_000 + b"]" * 100_000
LONG = b"9" * 5000
BROKEN = {
    b'{"a": [oops': "Expecting value",
    b"\x80abc": "not UTF-8",
    DEEP: "nested too deeply",
    LONG: "a number of more than 4300 digits",
}


@pytest.mark.parametrize(("body", "reason"), BROKEN.items(), ids=["syntax", "utf-8", "deep", "digits"])
def test_each_failure_is_a_value_error_that_names_it(body: bytes, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_json(body)
    assert str(caught.value) == reason


def test_json_within_the_limits_is_read() -> None:
    assert load_json(b'{"size": ' + b"9" * 4000 + b"}") == {"size": int("9" * 4000)}
    assert load_json(b"[" * 500 + b"]" * 500)  # nested, but well within the recursion limit


@pytest.mark.parametrize("body", [DEEP, LONG])
def test_a_hostile_tag_list_fails_with_its_reason(body: bytes) -> None:
    with pytest.raises(ResolveError, match=r"here: the tag list is not JSON \((nested too deeply|a number)"):
        parse_tags_page(body, "here")


@pytest.mark.parametrize("body", [DEEP, LONG, b"[]", b'{"token": 7}'])
def test_a_hostile_token_answer_holds_no_token(body: bytes) -> None:
    auth = RegistryAuth("https://registry.example", None)

    async def fetch(_realm: str, _query: dict[str, str], _login: str | None) -> bytes:
        return body

    challenge = 'Bearer realm="https://registry.example/token",service="r"'
    with pytest.raises(RegistryError, match=r"^the token service's answer holds no token$"):
        asyncio.run(auth.on_challenge(challenge, "repository:a:pull", fetch))
