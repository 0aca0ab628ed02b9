"""Credentials as the core takes them: what a caller presented, parsed out of its wire form.

Each dialect (and the native API) reads its wire credential into one of these and hands it to
``Identity.authenticate``, the one place that checks a credential and turns it into a
``Principal``; no other service looks a credential up.

* ``BearerToken``: a Fleetport bearer token (``Authorization: Bearer``, gRPC ``authorization``
  metadata): an API key's secret, a login session token (``fps_``) or a part secret (``fpp_``).
* ``ApiKeySecret``: an API key id with its secret, as the Viam ``Authenticate`` call presents them.
* ``ClientCik``: a One Platform client's key (CIK); with ``client_id`` the caller acts as that
  descendant client, with ``resource_id`` as the owner of that descendant resource.
* ``GrantToken``: a One Platform token made by ``grant``, acting as one client with some
  procedures on some sub-trees.
* ``ProvisioningKey``: the key of the provisioning API, either a vendor token or a client's CIK
  (whatever the client's activation); which of the two is looked up.

The text in them is as the caller sent it (any length, any characters): authentication refuses
what cannot be a credential with ``Unauthenticated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BearerToken:
    token: str = field(repr=False)


@dataclass(frozen=True)
class ApiKeySecret:
    key_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class ClientCik:
    cik: str = field(repr=False)
    client_id: str | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class GrantToken:
    token: str = field(repr=False)


@dataclass(frozen=True)
class ProvisioningKey:
    key: str = field(repr=False)


Credential = BearerToken | ApiKeySecret | ClientCik | GrantToken | ProvisioningKey
