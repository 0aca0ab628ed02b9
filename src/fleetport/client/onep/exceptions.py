"""Errors raised by the One Platform clients, named and arranged as pyonep names them, so code that
catches ``pyonep.exceptions.*`` works unchanged after swapping the import."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleetport.client.onep.provision import ProvisionResponse

__all__ = [
    "JsonRPCRequestException",
    "JsonRPCResponseException",
    "JsonStringException",
    "OneException",
    "OnePlatformException",
    "ProvisionException",
]


class OneException(Exception):
    """Base of every error raised by :mod:`fleetport.onep`; also raised for a reply of an unknown shape."""


class OnePlatformException(OneException):
    """The platform refused the request (bad auth, malformed envelope) or answered with something that is
    not JSON. The message is the platform's ``error`` object, as Python prints it."""


class JsonRPCRequestException(OneException):
    """The request did not get an answer: connection refused, timeout, TLS failure; or
    ``send_deferred`` was called with nothing queued."""


class JsonRPCResponseException(OneException):
    """Kept for compatibility with pyonep, which defines it but never raises it."""


class JsonStringException(OneException):
    """Kept for compatibility with pyonep, which defines it but never raises it."""


class ProvisionException(OneException):
    """A provisioning call answered with a status of 400 or more (only with ``raise_api_exceptions``).

    ``response`` is the :class:`~fleetport.client.onep.provision.ProvisionResponse`; the message is
    ``"<status> <reason>"``, for example ``"409 Conflict"``.
    """

    def __init__(self, response: ProvisionResponse) -> None:
        super().__init__(response)
        self.response = response

    def __str__(self) -> str:
        return f"{self.response.status()} {self.response.reason()}"

    def __repr__(self) -> str:
        return str(self)
