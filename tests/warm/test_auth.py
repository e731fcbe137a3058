"""Where the registry login may go, and how URLs are shown."""

from __future__ import annotations

from components.redaction import redact
from components.warm.auth import RegistryAuth, origin_of


def login() -> tuple[str, str]:
    return ("user", "secret")


def test_the_login_goes_to_the_registrys_own_origin_over_https_or_loopback() -> None:
    auth = RegistryAuth("https://registry.example/prefix", login)
    assert auth.login_goes_to("https://registry.example/token")
    assert auth.login_goes_to("https://REGISTRY.example:443/token"), "the same origin, spelled otherwise"
    assert not auth.login_goes_to("https://registry.example:8443/token"), "another port is another origin"
    assert not auth.login_goes_to("https://auth.example/token")
    assert not auth.login_goes_to("http://registry.example/token"), "never in clear text"
    assert RegistryAuth("http://127.0.0.1:5000", login).login_goes_to("http://127.0.0.1:5000/token")


def test_a_plain_http_realm_off_loopback_never_gets_the_login_even_when_trusted() -> None:
    auth = RegistryAuth("https://registry.example", login, frozenset({"http://10.0.0.1"}))
    assert not auth.login_goes_to("http://10.0.0.1/token")


def test_docker_hub_hands_its_tokens_out_from_auth_docker_io_and_callers_can_add_realms() -> None:
    hub = RegistryAuth("https://registry-1.docker.io", login)
    assert hub.login_goes_to("https://auth.docker.io/token")
    assert not RegistryAuth("https://quay.io", login).login_goes_to("https://auth.docker.io/token")
    extra = RegistryAuth("https://quay.io", login, frozenset({"https://auth.example/"}))
    assert extra.login_goes_to("https://auth.example/token")


def test_origins_and_redaction() -> None:
    assert origin_of("https://u:p@Host.example:443/x?y") == "https://host.example"
    assert origin_of("http://[::1]:5000/v2/") == "http://[::1]:5000"
    assert redact("http://AWS:secret@host:5000/v2/a?X-Amz-Signature=abc#f") == "http://host:5000/v2/a"
    assert redact("https://host/path") == "https://host/path"


def test_the_ecr_login_follows_the_one_ecr_host_grammar() -> None:
    from components.warm.ecr_login import ecr_login

    plain = ecr_login("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    assert plain is not None and plain is ecr_login("123456789012.DKR.ecr.eu-west-1.amazonaws.com")
    assert ecr_login("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com") is not None
    assert ecr_login("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") is None, "China is refused"
    assert ecr_login("127.0.0.1:5000") is None
