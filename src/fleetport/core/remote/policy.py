"""Who sees and who may launch on a deployment, and who reaches an instance.

* A deployment is seen by those who read its machine, and by those an access rule lets launch
  (a rule naming them, or one for everyone). Others are told it does not exist.
* Its owners (those who may change the machine: ``update_robot``) manage it: its rules, lockout,
  add-ons; they may always launch.
* Others may launch unless it is locked out, by the most specific rule that applies: a rule naming
  the user, else a rule for everyone (CAP_NO_INSTANTIATE wins over CAP_INSTANTIATE at the same
  level), else their role: owner or operator on the machine held in the deployment's organization.
* An instance is reached by whoever launched it and by the deployment's owners; to others it does
  not exist.
"""

from __future__ import annotations

from fleetport.core import validate
from fleetport.core.errors import MalformedId, NotFound, PermissionDenied
from fleetport.core.models import Row
from fleetport.core.permissions import Principal
from fleetport.core.remote.model import CAP_INSTANTIATE, CAP_NO_INSTANTIATE
from fleetport.store import Tx
from fleetport.store import remote as rq

NO_DEPLOYMENT = "no workspace deployment found with given ID"
NO_INSTANCE = "instance not found"


def seen(conn: Tx, p: Principal) -> rq.Seen:
    if p.is_admin:
        return rq.Seen(everything=True)
    scope = p.scope(conn, "read_robot")
    return rq.Seen(False, scope.organizations, scope.locations, scope.robots, p.user_id)


def managed(conn: Tx, p: Principal) -> rq.Seen:
    """The machines whose deployments ``p`` manages."""
    if p.is_admin:
        return rq.Seen(everything=True)
    scope = p.scope(conn, "update_robot")
    return rq.Seen(False, scope.organizations, scope.locations, scope.robots)


def manages(conn: Tx, p: Principal, row: Row) -> bool:
    scope = p.scope(conn, "update_robot")
    return scope.covers_robot(row["machine_id"], row["location_id"], row["organization_id"])


def _reads(conn: Tx, p: Principal, row: Row) -> bool:
    scope = p.scope(conn, "read_robot")
    return scope.covers_robot(row["machine_id"], row["location_id"], row["organization_id"])


def _ruled_in(conn: Tx, p: Principal, row: Row) -> bool:
    """Whether an access rule lets ``p`` (or everyone) launch on the deployment."""
    return any(x["capability"] == CAP_INSTANTIATE for x in rq.rules_for(conn, row["id"], p.user_id))


def deployment_id(value: str) -> str:
    try:
        return validate.entity_id(value, "workspace deployment")
    except MalformedId:
        raise NotFound(NO_DEPLOYMENT) from None


def instance_id(value: str) -> str:
    try:
        return validate.entity_id(value, "instance")
    except MalformedId:
        raise NotFound(NO_INSTANCE) from None


def sees(conn: Tx, p: Principal, row: Row) -> bool:
    """Whether ``p`` sees the deployment."""
    return _reads(conn, p, row) or _ruled_in(conn, p, row)


def deployment(conn: Tx, p: Principal, id_: str, *, lock: bool = False) -> Row:
    """The deployment, if ``p`` sees it (locked when asked)."""
    key = deployment_id(id_)
    row = rq.lock_deployment(conn, key) if lock else rq.deployment(conn, key)
    if row is None or not sees(conn, p, row):
        raise NotFound(NO_DEPLOYMENT)
    return row


def managed_deployment(conn: Tx, p: Principal, id_: str, *, lock: bool = False) -> Row:
    row = deployment(conn, p, id_, lock=lock)
    if not manages(conn, p, row):
        raise PermissionDenied(f"only the owners of machine {row['machine_id']} manage its deployment")
    return row


def may_launch(conn: Tx, p: Principal, row: Row) -> str | None:
    """None if ``p`` may launch on the deployment, else why not."""
    if p.is_admin or manages(conn, p, row):
        return None
    if row["locked_out"]:
        return "the deployment is locked out: only its owners may launch instances on it"
    rules = rq.rules_for(conn, row["id"], p.user_id)
    for level in ([x for x in rules if x["user_id"] is not None], [x for x in rules if x["user_id"] is None]):
        caps = {x["capability"] for x in level}
        if CAP_NO_INSTANTIATE in caps:
            return "an access rule of the deployment denies you launching instances (CAP_NO_INSTANTIATE)"
        if CAP_INSTANTIATE in caps:
            return None
    scope = p.scope(conn, "control_robot")
    member = p.reaches_organization("control_robot", row["organization_id"])
    if member and scope.covers_robot(row["machine_id"], row["location_id"], row["organization_id"]):
        return None
    return "you hold no role on the deployment's machine and no access rule lets you launch on it"


def instance(conn: Tx, p: Principal, id_: str, *, lock: bool = False) -> Row:
    """The instance (locked with its deployment when asked), if ``p`` reaches it."""
    key = instance_id(id_)
    row = rq.lock_instance(conn, key) if lock else rq.instance(conn, key)
    if row is None:
        raise NotFound(NO_INSTANCE)
    if p.is_admin or row["launched_by"] == p.id or manages(conn, p, row):
        return row
    raise NotFound(NO_INSTANCE)
