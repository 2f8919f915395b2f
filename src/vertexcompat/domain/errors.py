"""The error tree. Raised anywhere below the web layer; `web/errors.py` is the only place
that turns these into HTTP status codes and bodies (SPEC §7)."""

from __future__ import annotations

from typing import Self

from vertexcompat.domain.locations import FieldPath


class ApiError(Exception):
    """An error the client is meant to see. `status` is Google's canonical status name.

    Where the problem lies is said one of two ways, never both:

    - `location`: a field of the Gemini request (`contents[2].parts[0]`,
      `generation_config.temperature`). Everything below an API surface (services,
      policies, backends, the engine) speaks Gemini; the surface the request came in
      through names the field in its own terms, once, in `web/errors.py`.
    - `param`: a name already in the client's terms: what a surface's own parsing and
      translation raise, and what is raised about a value the surface labelled for the
      client (a media part's `source`, a thought signature's `signature_source`).
    """

    http_status: int = 500
    status: str = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        location: FieldPath | str | None = None,
    ) -> None:
        super().__init__(message)
        if param is not None and location is not None:
            raise ValueError("an error names a client param or a Gemini location, not both")
        self.message = message
        self.param = param
        self.location = FieldPath.parse(location) if isinstance(location, str) else location

    def located_at(self, location: FieldPath | None) -> Self:
        """A copy of this error (same class, message and extras) at a Gemini location
        instead of a client param; the original is left as it is."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.args = self.args
        copy.param, copy.location = None, location
        return copy


class InvalidArgument(ApiError):
    http_status = 400
    status = "INVALID_ARGUMENT"


class Unauthenticated(ApiError):
    """A missing or unusable credential. Clients see one message whatever the cause;
    `reason` says it for the operator's metrics and access log only: `missing` (no bearer
    token), `invalid` (unknown or malformed), `expired`, `revoked` (the token or its key)."""

    http_status = 401
    status = "UNAUTHENTICATED"

    def __init__(
        self, message: str, *, reason: str = "invalid", param: str | None = None,
        location: FieldPath | str | None = None,
    ) -> None:
        super().__init__(message, param=param, location=location)
        self.reason = reason


class PermissionDenied(ApiError):
    http_status = 403
    status = "PERMISSION_DENIED"


class NotFound(ApiError):
    http_status = 404
    status = "NOT_FOUND"


class PayloadTooLarge(ApiError):
    # Google answers 413 with INVALID_ARGUMENT for oversized bodies.
    http_status = 413
    status = "INVALID_ARGUMENT"


class UnsupportedMediaType(ApiError):
    # A body in a media type the endpoint does not read (RFC 9110 §15.5.16). Google has no
    # canonical status for it and answers a malformed request with INVALID_ARGUMENT.
    http_status = 415
    status = "INVALID_ARGUMENT"

    def __init__(
        self, message: str, *, accepted: str, param: str | None = None,
        location: FieldPath | str | None = None,
    ) -> None:
        super().__init__(message, param=param, location=location)
        self.accepted = accepted  # the media type that would have been read


class ResourceExhausted(ApiError):
    http_status = 429
    status = "RESOURCE_EXHAUSTED"

    def __init__(
        self, message: str, *, retry_after_s: int = 1, param: str | None = None,
        location: FieldPath | str | None = None,
    ) -> None:
        super().__init__(message, param=param, location=location)
        self.retry_after_s = retry_after_s


class Unavailable(ApiError):
    http_status = 503
    status = "UNAVAILABLE"

    def __init__(
        self, message: str, *, retry_after_s: int = 5, param: str | None = None,
        location: FieldPath | str | None = None,
    ) -> None:
        super().__init__(message, param=param, location=location)
        self.retry_after_s = retry_after_s


class Internal(ApiError):
    http_status = 500
    status = "INTERNAL"


class BadGateway(ApiError):
    """An upstream model server failed in a way the client cannot fix (its 5xx, a refusal
    of our credentials for it, a broken stream). Google's APIs have no canonical status for
    a 502; UNAVAILABLE says what the client may do: retry."""

    http_status = 502
    status = "UNAVAILABLE"


class OAuthError(Exception):
    """A token-endpoint failure (RFC 6749 §5.2). Not an `ApiError`: the body is OAuth's
    `{"error", "error_description"}`, not Google's error shape."""

    http_status: int = 400
    error: str = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class OAuthPayloadTooLarge(OAuthError):
    """A token request body over the endpoint's limit: 413, still in OAuth's shape so
    google-auth's `RefreshError` carries a readable reason."""

    http_status = 413


class TokenRateLimited(OAuthError):
    """Too many token requests: 429 with `Retry-After`.

    RFC 6749 §5.2 has no error code for this. `slow_down` is the code OAuth gives a
    client that asks the token endpoint too fast (the device grant, RFC 8628 §3.5), so
    it says the right thing. google-auth retries a 429 by its status alone (three
    attempts, ~1 s then ~2 s apart), then raises `RefreshError("slow_down: ...",
    retryable=True)`; a code it treats as retryable by name (`temporarily_unavailable`)
    would add nothing."""

    http_status = 429
    error = "slow_down"

    def __init__(self, description: str, *, retry_after_s: int = 1) -> None:
        super().__init__(description)
        self.retry_after_s = retry_after_s
