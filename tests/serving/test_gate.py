"""The gate's client-error logging, in process: which of BentoML's error records lose their
traceback (the server-level behaviour is in test_service.py)."""

from __future__ import annotations

import logging
import sys

import pydantic
import pytest
from bentoml.exceptions import BadInput, InternalServerError

from customs_risk.serving.gate import ClientErrorFilter, first_error
from customs_risk.serving.schemas import Outcome


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord("x", logging.ERROR, __file__, 1, "Exception on %s", ("/score",), info)


def _validation_error() -> pydantic.ValidationError:
    try:
        Outcome.model_validate({"fraud_found": "yes"})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("validated")


@pytest.mark.parametrize(
    ("exc", "kept"),
    [
        (_validation_error(), False),  # a request BentoML could not parse
        (BadInput("bad json"), False),
        (InternalServerError("boom"), True),
        (ValueError("a bug"), True),
    ],
)
def test_client_error_records_dropped_server_errors_kept(exc: BaseException, kept: bool) -> None:
    assert ClientErrorFilter().filter(_record(exc)) is kept
    plain = logging.LogRecord("x", logging.ERROR, __file__, 1, "no exception", (), None)
    assert ClientErrorFilter().filter(plain)


def test_validation_error_raised_in_the_package_keeps_its_traceback() -> None:
    from customs_risk.serving.settings import tracing_environment

    try:
        tracing_environment({"CUSTOMS_RISK_SERVE_TRACING": "maybe"})
    except pydantic.ValidationError:
        info = sys.exc_info()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Exception", (), info)
    assert ClientErrorFilter().filter(record)


def test_first_error() -> None:
    detail = (
        b'{"error": "2 validation errors", "detail": [{"loc": ["outcomes", 0, "x"], "msg": "m"}]}'
    )
    assert first_error(detail) == "outcomes.0.x: m"
    assert first_error(b'{"error": "outcomes[3].critical: r"}') == "outcomes[3].critical: r"
    assert first_error(b'[{"error": "bad"}]') == "bad"
    assert first_error(b"plain text") == "plain text"
    assert first_error(b"") == "(no body)"
