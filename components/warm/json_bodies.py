"""JSON from the network, read so that every way a body fails to be JSON is named.

`json.loads` fails in more ways than `JSONDecodeError`: bytes that are not UTF-8, nesting past
Python's recursion limit (`RecursionError`), and an integer longer than Python converts
(https://docs.python.org/3/library/stdtypes.html#int-max-str-digits). A hostile registry can
send any of them within a manifest's size cap; each must fail its image with a reason, not with
a Python exception's text.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def load_json(body: bytes) -> Any:
    """The JSON value `body` holds; ValueError saying, briefly, why it holds none."""
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except json.JSONDecodeError as error:
        raise ValueError(error.msg) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError:  # the only other ValueError json.loads raises: the integer digit limit
        raise ValueError(f"a number of more than {sys.get_int_max_str_digits()} digits") from None
