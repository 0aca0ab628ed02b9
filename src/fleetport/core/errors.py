"""Errors raised by core services.

Core services know no wire format: each dialect (and the native API) maps these to its own
error shape. The ``code`` is a stable machine-readable name; the message says what was wrong
and, where it helps, what to do.
"""

from __future__ import annotations


class CoreError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CoreError):
    code = "not_found"


class MalformedId(NotFound):
    """An id that cannot name anything (not a UUID, or empty). REST answers it as not found;
    dialects whose clients expect it may answer it as an invalid argument."""


class PermissionDenied(CoreError):
    code = "permission_denied"


class Unauthenticated(CoreError):
    code = "unauthenticated"


class Conflict(CoreError):
    code = "conflict"


class Taken(Conflict):
    """A write the database refused because a unique value (a name, an email, a version) was
    taken by another transaction, typically one committed at the same moment. The store raises
    it, with the message the core gave the transaction."""


class Invalid(CoreError):
    """An argument has the right type but a value the domain does not accept."""

    code = "invalid_argument"


class FailedPrecondition(CoreError):
    """The request is well formed but the current state does not allow it."""

    code = "failed_precondition"


class TooLarge(CoreError):
    code = "payload_too_large"


class Busy(Conflict):
    """What was asked for is taken for now (a deployment with an instance running, an instance
    being torn down): worth asking again later."""

    code = "busy"


class Unavailable(CoreError):
    """The request needs a party that is not there (a robot's agent not connected)."""

    code = "unavailable"
