"""Keeping credentials out of every message that quotes a URL: the one place URLs are redacted.

`redact_userinfo` cleans any text (a traceback, an error message) of `user:password@` in the URLs
it holds; `redact` prints one URL fit for a message: no userinfo, no query or fragment (presigned
URLs sign there).
"""

from __future__ import annotations

import re

# `scheme://user:password@` up to the host: the userinfo of RFC 3986, section 3.2.1.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")


def redact_userinfo(text: str) -> str:
    """`text` with the user name and password of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def redact(url: str) -> str:
    """A URL fit for a message: no userinfo, and no query or fragment."""
    scheme, _, rest = url.partition("://")
    if not rest:
        return url.split("?")[0].split("#")[0]
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    path = path.split("?")[0].split("#")[0]
    return f"{scheme}://{host}{slash}{path}"
