"""One retry policy for every call to storage, in the launcher and in the workers.

Two layers, both set here:

- each request: botocore's `standard` retry mode with MAX_ATTEMPTS attempts (5xx, SlowDown
  and other throttling, resets, timeouts; capped exponential backoff with jitter). Our own
  boto3 clients take `botocore_config()`; Beam's S3 client takes no settings, so the same
  policy reaches it through botocore's environment variables (AWS_RETRY_MODE,
  AWS_MAX_ATTEMPTS), set in every process that runs a step (`use_in_this_process`);
- each operation (write an image and its record, take the lease, write the results):
  `retrying` repeats the whole operation while its error is transient, with capped
  exponential backoff and full jitter, until a deadline; then one StorageUnavailableError
  names what could not be done. A multipart upload or a read that broke half-way is redone
  from its start, which a single request's retry cannot do.

Errors that retrying cannot fix (404, 403, a bad key, a corrupt image) pass at once.
"""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

MAX_ATTEMPTS = 8  # per request; botocore's own default is 3
OPERATION_DEADLINE_S = 120.0  # per operation, on top of the requests' own retries
FIRST_WAIT_S, LONGEST_WAIT_S = 0.5, 16.0

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_CODES = frozenset({
    "InternalError", "ServiceUnavailable", "SlowDown", "Throttling", "ThrottlingException",
    "RequestTimeout", "RequestTimeTooSkewed", "RequestLimitExceeded", "TooManyRequestsException",
})


class StorageUnavailableError(OSError):
    """Storage kept failing with transient errors for longer than the deadline."""


def botocore_config(attempts: int = MAX_ATTEMPTS, connect_timeout: float = 10, read_timeout: float = 60):
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": attempts},
                  connect_timeout=connect_timeout, read_timeout=read_timeout)


def _status_and_code(exc: BaseException) -> tuple[int | None, str]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, ""
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status, str(response.get("Error", {}).get("Code", ""))


def is_transient(exc: BaseException) -> bool:
    """A storage error that the same call may not meet again: 5xx, throttling, a reset, a
    timeout. Looks through the exceptions it was raised from (Beam wraps boto's)."""
    from botocore import exceptions as boto

    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (boto.ConnectionError, boto.HTTPClientError, boto.ResponseStreamingError,
                              boto.IncompleteReadError)):
            return True
        if isinstance(error, boto.ClientError):
            status, code = _status_and_code(error)
            return status in _TRANSIENT_STATUS or code in _TRANSIENT_CODES
        status = getattr(error, "code", None)  # Beam's S3ClientError, Google's API errors
        if type(error).__name__ == "S3ClientError" or hasattr(error, "grpc_status_code"):
            if isinstance(status, int):
                return status in _TRANSIENT_STATUS
        error = error.__cause__ or error.__context__
    return False


def retrying(call: Callable[[], T], what: str, deadline_s: float = OPERATION_DEADLINE_S,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """`call()`, repeated while it fails transiently, until `deadline_s` has passed."""
    started = time.monotonic()
    wait = FIRST_WAIT_S
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            spent = time.monotonic() - started
            if spent + wait > deadline_s:
                raise StorageUnavailableError(
                    f"could not {what}: storage kept failing for {spent:.0f} s ({_one_line(exc)})"
                ) from exc
            sleep(random.uniform(wait / 2, wait))
            wait = min(wait * 2, LONGEST_WAIT_S)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# What Beam's S3 code logs on the root logger (with a traceback) before raising an error
# that `retrying` then retries: on a job that succeeds these lines are only noise.
_BEAM_S3_NOISE = ("HTTP error while requesting file", "Error in _start_upload while inserting file")


class _BeamRetryNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_BEAM_S3_NOISE)


def _error_code_of(exc: BaseException) -> int | None:
    """Beam's get_http_error_code, for exceptions whose `response` is None too (a
    connection error): Beam's own raises AttributeError there, hiding the real error."""
    status, _ = _status_and_code(exc)
    return status


_applied = threading.Lock()
_done = False


def use_in_this_process() -> None:
    """Give Beam's S3 client the policy and quiet Beam's retry logging, once per process.
    A user's own AWS_RETRY_MODE / AWS_MAX_ATTEMPTS are kept."""
    global _done
    with _applied:
        if _done:
            return
        os.environ.setdefault("AWS_RETRY_MODE", "standard")
        os.environ.setdefault("AWS_MAX_ATTEMPTS", str(MAX_ATTEMPTS))
        try:
            from apache_beam.io.aws.clients.s3 import boto3_client
        except ImportError:  # Beam without its AWS extra: no S3 at all
            pass
        else:
            boto3_client.get_http_error_code = _error_code_of
        # Beam retries its own S3 calls too and logs each retry with a traceback.
        logging.getLogger("apache_beam.utils.retry").setLevel(logging.ERROR)
        logging.getLogger().addFilter(_BeamRetryNoise())
        _done = True
