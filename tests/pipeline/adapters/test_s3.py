"""botocore errors become the project's own, split into retryable and permanent."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from pipeline.adapters.s3 import translated
from pipeline.errors import AccessDenied, ObjectChanged, ObjectNotFound, PermanentError, RetryableError


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "GetObject")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("NoSuchKey", 404), ObjectNotFound),
        (client_error("NoSuchVersion", 404), ObjectNotFound),
        (client_error("404", 404), ObjectNotFound),
        (client_error("PreconditionFailed", 412), ObjectChanged),
        (client_error("AccessDenied", 403), AccessDenied),
        (client_error("SlowDown", 503), RetryableError),
        (client_error("InternalError", 500), RetryableError),
        (client_error("ServiceUnavailable", 503), RetryableError),
        (client_error("NoSuchBucket", 404), PermanentError),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), RetryableError),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), RetryableError),
    ],
)
def test_translation(error, expected):
    with pytest.raises(expected) as caught, translated("GET s3://b/k"):
        raise error
    assert str(caught.value).startswith("GET s3://b/k")
    assert isinstance(caught.value, RetryableError) != isinstance(caught.value, PermanentError)
