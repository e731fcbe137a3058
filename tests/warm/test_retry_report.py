"""A retried request says what failed and when the next try comes; a look-again says nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import stamina

from components.warm.errors import BlobNotKept, ResponseError
from components.warm.retry_report import report_retry

ROOT = Path(__file__).resolve().parents[2]


def details(error: Exception) -> stamina.instrumentation.RetryDetails:
    return stamina.instrumentation.RetryDetails(
        name="warm", args=(), kwargs={}, retry_num=2, wait_for=0.3, waited_so_far=0.5, caused_by=error
    )


def test_a_retry_is_one_line_naming_the_failure(capsys: pytest.CaptureFixture[str]) -> None:
    report_retry(details(ResponseError("GET http://r/v2/a/manifests/1: 503", 503)))
    assert capsys.readouterr().err == "retry 2 in 0.3s: GET http://r/v2/a/manifests/1: 503\n"


def test_waiting_for_the_cache_to_store_a_blob_is_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    report_retry(details(BlobNotKept("relayed", 0.01)))
    assert capsys.readouterr().err == ""


def test_the_provider_process_reports_retries_as_the_cli_does() -> None:
    """Under `pulumi up` the provider's operations install the reporter, not stamina's default."""
    program = (
        "import stamina; from components.warm import operations; operations._engine(); "
        "print([hook.__name__ for hook in stamina.instrumentation.get_on_retry_hooks()])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "['report_retry']"
