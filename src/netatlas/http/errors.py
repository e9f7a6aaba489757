"""API errors carrying the Ichnaea (Google-style) error envelope.

Every error body has the shape::

    {"error": {"errors": [{"domain": D, "reason": R, "message": M}], "code": C, "message": M}}

and parse errors add ``"details"`` next to ``"errors"``: ``{"decode": "<text>"}`` when the body
could not be decompressed, decoded or parsed as JSON, ``{"validation": {<field path>: "<text>"}}``
when it parsed but has the wrong structure. A parse error for an empty body has no ``details``.

These classes know nothing about the HTTP framework: the web layer turns one into a response with
``status`` and ``body()`` (content type ``application/json``).
"""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """Base class: an error reported to the client as an Ichnaea error envelope."""

    status: int = 500
    domain: str = "global"
    reason: str = "internalError"
    message: str = "Internal Error"

    def __init__(self, message: str | None = None, details: dict[str, Any] | None = None) -> None:
        if message is not None:
            self.message = message
        self.details = details
        self.headers: dict[str, str] = {}  # extra response headers (e.g. X-RateLimit-*)
        super().__init__(self.message)

    def envelope(self) -> dict[str, Any]:
        """The error body as a JSON-able mapping."""
        error: dict[str, Any] = {
            "errors": [{"domain": self.domain, "reason": self.reason, "message": self.message}],
            "code": self.status,
            "message": self.message,
        }
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}

    def body(self) -> bytes:
        """The error body as UTF-8 JSON bytes."""
        return _encoder.encode(self.envelope())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, details={self.details!r})"


class ParseError(ApiError):
    """400: the body could not be decoded or does not have the required structure."""

    status = 400
    domain = "global"
    reason = "parseError"
    message = "Parse Error"

    @classmethod
    def decode_error(cls, text: str) -> ParseError:
        """A parse error with ``details.decode`` (decompression, charset or JSON failure)."""
        return cls(details={"decode": text})

    @classmethod
    def validation_error(cls, fields: dict[str, str]) -> ParseError:
        """A parse error with ``details.validation`` mapping dotted field paths to messages."""
        return cls(details={"validation": fields})


class KeyInvalid(ApiError):
    """400: a missing, malformed, unknown or not-allowed API key."""

    status = 400
    domain = "usageLimits"
    reason = "keyInvalid"
    message = "Missing or invalid API key."


class DailyLimitExceeded(ApiError):
    """403: the key used up its daily request allowance for this endpoint."""

    status = 403
    domain = "usageLimits"
    reason = "dailyLimitExceeded"
    message = "You have exceeded your daily limit."

    def __init__(self, message: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds to the next UTC day, when known


class KeyBlocked(ApiError):
    """403: the key is blocked, from everywhere or from the caller's network (NetAtlas)."""

    status = 403
    domain = "usageLimits"
    reason = "keyBlocked"
    message = "This API key is blocked."

    def __init__(self, message: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds until a time-limited block ends


class RateLimitExceeded(ApiError):
    """429: too many requests in a short window (not in Ichnaea; Google's reason name)."""

    status = 429
    domain = "usageLimits"
    reason = "rateLimitExceeded"
    message = "You have exceeded the rate limit."

    def __init__(
        self,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after  # seconds, for a Retry-After header when known


class NotFound(ApiError):
    """404: no position or region could be determined."""

    status = 404
    domain = "geolocation"
    reason = "notFound"
    message = "Not found"


class ServiceUnavailable(ApiError):
    """503: a backend needed to accept the request (e.g. the queue) is down."""

    status = 503
    domain = "global"
    reason = "serviceUnavailable"
    message = "Service Unavailable"


class Unavailable(ServiceUnavailable):
    """503 with a ``Retry-After`` hint (seconds)."""

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLarge(ApiError):
    """413: the body, compressed or after decompression, is larger than the configured limit."""

    status = 413
    domain = "global"
    reason = "payloadTooLarge"
    message = "Request body too large."

    def __init__(
        self,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> None:
        if message is None and limit is not None:
            message = f"Request body too large: the limit is {limit} bytes (after decompression)."
        super().__init__(message, details)
        self.limit = limit


# The envelope's wire shape, for the OpenAPI document.


class ErrorItem(msgspec.Struct):
    domain: str
    reason: str
    message: str


class ErrorBody(msgspec.Struct, omit_defaults=True):
    errors: list[ErrorItem]
    code: int
    message: str
    details: dict[str, Any] | None = None  # {"decode": ...} or {"validation": {...}}


class ErrorEnvelope(msgspec.Struct):
    """Ichnaea's (Google-style) error body."""

    error: ErrorBody
