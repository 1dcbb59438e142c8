"""The refusals of the ingress: one class per HTTP status, each answered the same way.

    Refused                 any 4xx; carries `field` and `detail`, never the value at fault
    ├── FormError           400  malformed form or body (ingress.form)
    ├── BrokenStream        400  the body's transfer encoding broke off
    ├── Unauthorized        401  unknown token
    ├── Forbidden           403  source address not in TEVO_ALLOWED_NETWORKS
    ├── TooSlow             408  the body did not arrive within TEVO_BODY_TIMEOUT
    ├── TooLarge            413  the body is over TEVO_MAX_BODY_BYTES
    ├── UnsupportedMedia    415  not form-encoded UTF-8, or compressed
    └── BadExpectation      417  an `Expect` header other than 100-continue

The webhook handler catches `Refused` in one place, counts it, logs it and answers
`{"error", "field", "detail"}` with `status`. Nothing is published for a refusal.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Refused(Exception):
    """A request the ingress will not publish, with the status that says why."""

    status: ClassVar[int]
    error: ClassVar[str]
    log_event: ClassVar[str] = "webhook.rejected"
    # A client that sent too much or too slowly is not worth keeping the connection for.
    close_connection: ClassVar[bool] = False

    def __init__(self, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(detail or self.error)
        self.field = field
        self.detail = detail

    def as_json(self) -> dict[str, Any]:
        return {"error": self.error, "field": self.field, "detail": self.detail}


class FormError(Refused):
    """A 400: which form field is wrong and why, never echoing the value."""

    status = 400
    error = "malformed webhook"

    def __init__(self, field: str | None, detail: str) -> None:
        super().__init__(field, detail)


class BrokenStream(Refused):
    status = 400
    error = "malformed request"


class Unauthorized(Refused):
    status = 401
    error = "unauthorized"
    log_event = "webhook.unauthorized"


class Forbidden(Refused):
    status = 403
    error = "forbidden"
    log_event = "webhook.forbidden"


class TooSlow(Refused):
    status = 408
    error = "request timeout"
    close_connection = True


class TooLarge(Refused):
    status = 413
    error = "request too large"
    close_connection = True


class UnsupportedMedia(Refused):
    status = 415
    error = "unsupported content type"


class BadExpectation(Refused):
    status = 417
    error = "expectation failed"
