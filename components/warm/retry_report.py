"""What a retried request says: one readable line on standard error, for the CLI and the provider.

stamina's default hook logs a bare `stamina.retry_scheduled` warning per retry, which says neither
what failed nor when the next try comes. Waiting for the cache to finish storing a blob
(`BlobNotKept`) is not a failure, so it stays quiet. The Lambda writes JSON lines instead
(`lambda_handler.retry_logger`).
"""

from __future__ import annotations

import sys

import stamina

from components.warm.errors import BlobNotKept


def report_retry(details: stamina.instrumentation.RetryDetails) -> None:
    if isinstance(details.caused_by, BlobNotKept):
        return
    reason = str(details.caused_by) or type(details.caused_by).__name__
    print(f"retry {details.retry_num} in {details.wait_for:.1f}s: {reason}", file=sys.stderr, flush=True)


def report_retries() -> None:
    """Report every retry of this process so (stamina's hooks are process-wide)."""
    stamina.instrumentation.set_on_retry_hooks([report_retry])
