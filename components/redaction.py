"""Keeping credentials a user put into a URL out of every message that quotes the URL."""

from __future__ import annotations

import re

# `scheme://user:password@` up to the host: the userinfo of RFC 3986, section 3.2.1.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")


def redact_userinfo(text: str) -> str:
    """`text` with the user name and password of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)
