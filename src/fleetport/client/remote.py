"""The native API's remote-access operations: deployments and their access rules, instances with
their firewall, reservations (``client.deployments``, ``client.instances``, ``client.reservations``)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from fleetport.client import models as m
from fleetport.client.errors import InvalidArgument
from fleetport.client.operations import Mode, Resource, call, listing


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def segment(value: str, what: str) -> str:
    """``value`` as one segment of a URL path."""
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{what} is not text that can be sent (it holds a lone surrogate)") from None


class Deployments(Resource[Mode]):
    @listing
    def list(
        self, *, types: Sequence[str] = (), query: str | None = None, limit: int | None = None
    ) -> Iterator[m.Deployment]:
        params: dict[str, Any] = {"limit": limit, "q": query}
        if types:
            params["type"] = builtins.list(types)
        return self._t.pages("/deployments", m.Deployment, params)

    @call
    def create(
        self,
        machine_id: str,
        *,
        type: str = "generic",
        region: str = "",
        addons: Sequence[str] = (),
        addons_config: dict[str, Any] | None = None,
    ) -> m.Deployment:
        """Offers a machine for remote sessions."""
        body = {"machine_id": machine_id, "type": type, "region": region, "addons": builtins.list(addons)}
        body |= _given(addons_config=addons_config)
        return self._t.call("POST", "/deployments", m.Deployment, json=body)

    @call
    def get(self, deployment_id: str) -> m.Deployment:
        return self._t.call("GET", f"/deployments/{deployment_id}", m.Deployment)

    @call
    def of_machine(self, machine: str) -> m.Deployment:
        """The deployment of a machine named by its id, or by its name among the machines you read."""
        return self._t.call("GET", f"/machines/{segment(machine, 'the machine')}/deployment", m.Deployment)

    @call
    def update(
        self,
        deployment_id: str,
        *,
        type: str | None = None,
        region: str | None = None,
        addons: Sequence[str] | None = None,
        addons_config: dict[str, Any] | None = None,
        locked_out: bool | None = None,
    ) -> m.Deployment:
        body = _given(type=type, region=region, addons_config=addons_config, locked_out=locked_out)
        if addons is not None:
            body["addons"] = builtins.list(addons)
        return self._t.call("PATCH", f"/deployments/{deployment_id}", m.Deployment, json=body)

    @call
    def delete(self, deployment_id: str) -> None:
        return self._t.call("DELETE", f"/deployments/{deployment_id}")

    @call
    def rules(self, deployment_id: str) -> builtins.list[m.AccessRule]:
        return self._t.call("GET", f"/deployments/{deployment_id}/rules", builtins.list[m.AccessRule])

    @call
    def add_rule(self, deployment_id: str, capability: str, user: str | None = None) -> m.AccessRule:
        """``capability`` CAP_INSTANTIATE or CAP_NO_INSTANTIATE; ``user`` an id or email (None: everyone)."""
        body = _given(capability=capability, user=user)
        return self._t.call("POST", f"/deployments/{deployment_id}/rules", m.AccessRule, json=body)

    @call
    def delete_rule(self, deployment_id: str, rule_id: str) -> None:
        return self._t.call("DELETE", f"/deployments/{deployment_id}/rules/{rule_id}")


class Instances(Resource[Mode]):
    @listing
    def list(self, *, include_ended: bool = False, limit: int | None = None) -> Iterator[m.Instance]:
        return self._t.pages("/instances", m.Instance, {"include_ended": include_ended, "limit": limit})

    @call
    def launch(
        self,
        deployment: str,
        *,
        public_key: str | None = None,
        expire_seconds: int | None = None,
        reserve: bool = False,
        event_url: str | None = None,
    ) -> m.Launch:
        """An instance on the deployment (an id, or a workspace type), or a reservation when it is
        busy and ``reserve`` is set. Without ``public_key`` the answer holds a new private key."""
        body = {"deployment": deployment, "reserve": reserve}
        body |= _given(public_key=public_key, expire_seconds=expire_seconds, event_url=event_url)
        return self._t.call("POST", "/instances", m.Launch, json=body)

    @call
    def get(self, instance_id: str) -> m.Instance:
        return self._t.call("GET", f"/instances/{instance_id}", m.Instance)

    @call
    def terminate(self, instance_id: str) -> m.Instance:
        return self._t.call("POST", f"/instances/{instance_id}/terminate", m.Instance)

    @call
    def firewall(self, instance_id: str) -> m.Firewall:
        return self._t.call("GET", f"/instances/{instance_id}/firewall", m.Firewall)

    @call
    def add_firewall_rule(self, instance_id: str, action: str, source: str | None = None) -> m.Firewall:
        body = _given(action=action, source=source)
        return self._t.call("POST", f"/instances/{instance_id}/firewall", m.Firewall, json=body)

    @call
    def flush_firewall(self, instance_id: str) -> None:
        return self._t.call("DELETE", f"/instances/{instance_id}/firewall")


class Reservations(Resource[Mode]):
    @call
    def list(self) -> builtins.list[m.Reservation]:
        return self._t.call("GET", "/reservations", builtins.list[m.Reservation])

    @call
    def cancel(self, reservation_id: str) -> None:
        return self._t.call("DELETE", f"/reservations/{reservation_id}")
