"""Deployments: machines offered for remote sessions, and the access rules that say who may launch
instances on them (see ``policy`` for who sees and manages what)."""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from typing import Any

from fleetport.core import access, validate
from fleetport.core.errors import FailedPrecondition, Invalid, NotFound
from fleetport.core.ids import is_uuid, new_id
from fleetport.core.models import utcnow
from fleetport.core.pages import Integer, Listing, PageRequest
from fleetport.core.permissions import Principal
from fleetport.core.remote import policy
from fleetport.core.remote.model import (
    ADDONS,
    CAPABILITIES,
    DEFAULT_TYPE,
    NOT_OFFERED,
    RELAYED,
    AccessRule,
    Deployment,
    Tally,
    positioned,
    relay_target,
)
from fleetport.store import Store, Tx
from fleetport.store import queries as q
from fleetport.store import remote as rq

# Deployments seen by the caller, by type then id; paged by position (the rerobots wire does), the
# cursor carrying the position of the last one given.
DEPLOYMENTS = Listing("deployments", key=(Integer(),), offsets=True)
TYPE_MAX = REGION_MAX = 100
NAMED_SHOWN = 5  # machines of one name listed in the answer that asks which one
QUERY_MAX = 200
_TYPE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


def workspace_type(value: object) -> str:
    if not isinstance(value, str) or not _TYPE.fullmatch(value):
        raise Invalid(
            "a workspace type is 1 to 100 letters, digits and the characters _ . : - (like fixed_misty2)"
        )
    return value


def _addons(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise Invalid(f"supported add-ons must be a list of add-on names ({', '.join(ADDONS)})")
    unknown = [x for x in value if x not in ADDONS]
    if unknown:
        raise Invalid(
            NOT_OFFERED.get(
                unknown[0], f"unknown add-on {unknown[0][:40]!r}: the add-ons are {', '.join(ADDONS)}"
            )
        )
    return sorted(set(value), key=ADDONS.index)


def _addons_config(value: object) -> dict[str, Any]:
    config = validate.json_object(value, "add-ons config")
    unknown = [x for x in config if x not in ADDONS]
    if unknown:
        raise Invalid(
            f"add-ons config names unknown add-on {unknown[0][:40]!r}: the add-ons are {', '.join(ADDONS)}"
        )
    for addon in RELAYED:
        relay_target(addon, config.get(addon))  # the robot-local address a relayed add-on reaches
    return config


class Deployments:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        p: Principal,
        machine_id: str,
        type: str = DEFAULT_TYPE,
        region: str = "",
        addons: Sequence[str] = (),
        addons_config: dict[str, Any] | None = None,
    ) -> Deployment:
        """Offers a machine for remote sessions (its owners only; one deployment per machine)."""
        deployment_id = new_id()
        row = {
            "id": deployment_id,
            "type": workspace_type(type),
            "region": validate.bounded_text(region, "region", REGION_MAX),
            "addons": _addons(list(addons)),
            "addons_config": _addons_config(addons_config or {}),
            "locked_out": False,
            "instance_count": 0,
            "created_at": utcnow(),
        }
        with self.store.write(conflict=f"machine {machine_id} has a deployment already") as conn:
            machine = access.machine(conn, p, "update_robot", machine_id)
            if rq.deployment_of_machine(conn, machine["id"]) is not None:
                raise FailedPrecondition(f"machine {machine['id']} has a deployment already")
            row |= {"machine_id": machine["id"], "organization_id": machine["organization_id"]}
            rq.insert_deployment(conn, row)
            made = rq.deployment(conn, deployment_id)
            assert made is not None
            return Deployment.from_row(made)

    def get(self, p: Principal, deployment_id: str) -> Deployment:
        with self.store.read() as conn:
            row = policy.deployment(conn, p, deployment_id)
            return Deployment.from_row(row, row["queuelen"])

    def of_machine(self, p: Principal, machine: str) -> Deployment:
        """The deployment of the machine named by its id, or by its name among the machines the
        caller reads (a machine an access rule only lets them launch on is named by its id)."""
        if not isinstance(machine, str):
            raise Invalid("a machine is named by its id or its name")
        name = validate.bounded_text(machine.strip(), "machine", validate.NAME_MAX)
        if not name:
            raise Invalid("a machine is named by its id or its name")
        with self.store.read() as conn:
            if is_uuid(name):
                key = name.lower()
                row = rq.deployment_of_machine(conn, key)
                if row is not None and policy.sees(conn, p, row):
                    return Deployment.from_row(row, row["queuelen"])
                machine_id = access.machine(conn, p, "read_robot", key)["id"]
                label = f"machine {machine_id}"
            else:
                found = rq.machines_named(conn, policy.seen(conn, p), name, NAMED_SHOWN + 1)
                if not found:
                    raise NotFound(
                        f"no machine named {name[:100]!r} that you may read "
                        "(a machine you may only launch on is named by its id)"
                    )
                if len(found) > 1:
                    shown = ", ".join(found[:NAMED_SHOWN]) + (", ..." if len(found) > NAMED_SHOWN else "")
                    raise Invalid(
                        f"{'more than ' if len(found) > NAMED_SHOWN else ''}{min(len(found), NAMED_SHOWN)} "
                        f"machines are named {name[:100]!r}: name one by its id ({shown})"
                    )
                machine_id = found[0]
                row = rq.deployment_of_machine(conn, machine_id)
                if row is not None:
                    return Deployment.from_row(row, row["queuelen"])
                label = f"machine {name[:100]!r} ({machine_id})"
            raise NotFound(f"{label} has no deployment: it is not offered for remote sessions")

    def search(
        self,
        p: Principal,
        page: PageRequest,
        *,
        text: str | None = None,
        types: Sequence[str] = (),
        not_types: Sequence[str] = (),
        maxlen: int | None = None,
        clamp: bool = False,
    ) -> Tally[Deployment]:
        """The deployments the caller sees, by type then id: those whose type, region or id holds
        ``text``, of one of ``types`` (when given) and none of ``not_types``, with at most
        ``maxlen`` reservations waiting (when given)."""
        if text is not None:
            validate.bounded_text(text, "search text", QUERY_MAX)
        wanted = [workspace_type(x) for x in types]
        unwanted = [workspace_type(x) for x in not_types]
        if maxlen is not None and (type(maxlen) is not int or not 0 <= maxlen < 2**63):
            raise Invalid("maxlen must be a whole number from 0")
        with self.store.read() as conn:
            seen = policy.seen(conn, p)
            return positioned(
                DEPLOYMENTS,
                page,
                lambda limit, start: rq.search(
                    conn,
                    seen,
                    text=text,
                    types=wanted,
                    not_types=unwanted,
                    maxlen=maxlen,
                    limit=limit,
                    offset=start,
                ),
                lambda r: Deployment.from_row(r, r["queuelen"]),
                clamp=clamp,
            )

    def types(self, p: Principal) -> builtins.list[str]:
        """The workspace types of the deployments the caller sees."""
        with self.store.read() as conn:
            return rq.types(conn, policy.seen(conn, p))

    def update(
        self,
        p: Principal,
        deployment_id: str,
        *,
        type: str | None = None,
        region: str | None = None,
        addons: Sequence[str] | None = None,
        addons_config: dict[str, Any] | None = None,
        locked_out: bool | None = None,
    ) -> Deployment:
        """Changes what is given (owners only)."""
        values: dict[str, Any] = {}
        if type is not None:
            values["type"] = workspace_type(type)
        if region is not None:
            values["region"] = validate.bounded_text(region, "region", REGION_MAX)
        if addons is not None:
            values["addons"] = _addons(list(addons))
        if addons_config is not None:
            values["addons_config"] = _addons_config(addons_config)
        if locked_out is not None:
            if not isinstance(locked_out, bool):
                raise Invalid("lockout must be true or false")
            values["locked_out"] = locked_out
        with self.store.write() as conn:
            row = policy.managed_deployment(conn, p, deployment_id, lock=True)
            if values:
                rq.update_deployment(conn, row["id"], values)
            return Deployment.from_row({**row, **values}, row["queuelen"])

    def delete(self, p: Principal, deployment_id: str) -> None:
        """Stops offering the machine (owners only), once no instance is active on it; waiting
        reservations go with it."""
        with self.store.write() as conn:
            row = policy.managed_deployment(conn, p, deployment_id, lock=True)
            active = rq.active_instance(conn, row["id"])
            if active is not None:
                raise FailedPrecondition(
                    f"instance {active['id']} is active on the deployment: terminate it first"
                )
            rq.delete_deployment(conn, row["id"])

    # --- access rules -------------------------------------------------------------------------

    def rules(
        self, p: Principal, deployment_id: str | None = None, user: str | None = None
    ) -> builtins.list[AccessRule]:
        """The rules of a deployment the caller manages, or of every one they manage; only those
        naming ``user`` (an id or an email) when given."""
        with self.store.read() as conn:
            if deployment_id is not None:
                ids = [policy.managed_deployment(conn, p, deployment_id)["id"]]
            else:
                ids = rq.managed_deployments(conn, policy.managed(conn, p))
            user_id = None if user is None else _user(conn, user)
            if user is not None and user_id is None:
                return []
            return [AccessRule.from_row(r) for r in rq.rules(conn, ids, user_id)]

    def add_rule(
        self, p: Principal, deployment_id: str, capability: str, user: str | None = None
    ) -> AccessRule:
        """A rule letting (CAP_INSTANTIATE) or not letting (CAP_NO_INSTANTIATE) ``user`` (an id or
        an email; None or "*": everyone) launch on the deployment (owners only)."""
        if capability not in CAPABILITIES:
            raise Invalid(f"capability must be one of {', '.join(CAPABILITIES)}")
        with self.store.write() as conn:
            row = policy.managed_deployment(conn, p, deployment_id)
            user_id = None
            if user is not None and user != "*":
                user_id = _user(conn, user)
                if user_id is None:
                    raise NotFound(f"no user {user[:100]!r}: name a user by id or email, or '*' for everyone")
            rule = {
                "id": new_id(),
                "deployment_id": row["id"],
                "capability": capability,
                "user_id": user_id,
                "created_at": utcnow(),
            }
            rq.insert_rule(conn, rule)
            found = rq.rule(conn, rule["id"])
            assert found is not None
            return AccessRule.from_row(found)

    def delete_rule(self, p: Principal, deployment_id: str, rule_id: str) -> None:
        with self.store.write() as conn:
            row = policy.managed_deployment(conn, p, deployment_id)
            if not is_uuid(rule_id) or rq.delete_rule(conn, row["id"], rule_id.lower()) == 0:
                raise NotFound(f"the deployment has no rule {rule_id[:100]!r}")


def _user(conn: Tx, user: str) -> str | None:
    """The id of the user named by id or email, None if there is none."""
    if not isinstance(user, str):
        raise Invalid("a user is named by id or email")
    validate.bounded_text(user, "user", 320)
    if is_uuid(user):
        found = q.get(conn, "users", user.lower())
    else:
        found = q.find_one(conn, "users", email=user.strip().lower())
    return None if found is None else str(found["id"])
