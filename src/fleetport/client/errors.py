"""Exceptions raised by the Fleetport SDK, one per kind of error the server answers."""

from __future__ import annotations


class FleetportError(Exception):
    def __init__(
        self, message: str, *, status: int = 0, code: str = "", request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id


class InvalidArgument(FleetportError):
    """400 or 422: the request was malformed or a value was not accepted."""


class Unauthenticated(FleetportError):
    """401: no credentials, or ones the server does not know (deleted, rotated, expired)."""


class PermissionDenied(FleetportError):
    """403: the credentials are valid but do not reach that resource."""


class NotFound(FleetportError):
    """404."""


class Conflict(FleetportError):
    """409: a duplicate, or a state that does not allow the change."""


class PayloadTooLarge(FleetportError):
    """413: the body is over the server's limit."""


class InvalidServerURL(FleetportError, ValueError):
    """The server URL cannot be used: it needs http:// or https:// in front."""


class UntrustedCertificate(FleetportError):
    """The server's TLS certificate did not verify: a self-signed one (a Fleetport server makes
    ``<data dir>/tls/cert.pem``) is trusted by passing it as ``verify``."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"the TLS certificate of {url} is not trusted ({reason}): pass the server's certificate "
            "as verify=, e.g. verify='fleetport-data/tls/cert.pem'"
        )
        self.url = url
        self.reason = reason


_BY_STATUS: dict[int, type[FleetportError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidArgument,
}


def from_response(status: int, body: object, request_id: str | None) -> FleetportError:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message, code = str(error.get("message", "")), str(error.get("code", ""))
    else:
        message, code = f"HTTP {status}", ""
    kind = _BY_STATUS.get(status, FleetportError)
    return kind(message, status=status, code=code, request_id=request_id)
