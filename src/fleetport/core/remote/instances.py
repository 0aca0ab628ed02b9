"""Instances: remote sessions on deployments, from launch (or a reservation when the deployment is
busy) to their end, with their firewall rules; the robot's agent reports back through
``instance_ready``, ``instance_failed`` and ``instance_destroyed``, and the ``sweep`` duty fails
launches the agent never answered, ends expired instances and starts waiting reservations."""

from __future__ import annotations

import builtins
import ipaddress
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from fleetport.core import validate
from fleetport.core.calls import long_running
from fleetport.core.errors import Busy, FailedPrecondition, Invalid, NotFound, PermissionDenied, Taken
from fleetport.core.ids import is_uuid, new_id
from fleetport.core.models import Row, utcnow
from fleetport.core.pages import Integer, Listing, PageRequest
from fleetport.core.permissions import Principal
from fleetport.core.remote import events, keys, lifecycle, policy
from fleetport.core.remote.deployments import workspace_type
from fleetport.core.remote.lifecycle import Effect, Started
from fleetport.core.remote.model import (
    ACTIVE,
    FIREWALL_ACTIONS,
    INIT,
    INIT_FAIL,
    READY,
    TERMINATED,
    TERMINATING,
    FirewallRule,
    Instance,
    Launch,
    Reservation,
    Tally,
    positioned,
)
from fleetport.core.remote.workspaces import WorkspaceHost
from fleetport.core.telemetry.dispatch import Dispatcher
from fleetport.settings import RemoteSettings
from fleetport.store import Store, Tx
from fleetport.store import remote as rq

log = logging.getLogger(__name__)

# The caller's instances, newest first; paged by position (the rerobots wire does).
INSTANCES = Listing("instances", key=(Integer(),), offsets=True)
EXPIRE_MAX = 10 * 365 * 24 * 3600
FIREWALL_MAX = 100  # rules per instance
HOSTKEY_MAX = 16 * 1024
BUSY = "All matching workspace deployments are busy. Try again later, or ask for a reservation."


class Instances:
    def __init__(
        self, store: Store, settings: RemoteSettings, host: WorkspaceHost, dispatcher: Dispatcher
    ) -> None:
        self.store = store
        self.settings = settings
        self.host = host
        self.dispatcher = dispatcher

    # --- launching ----------------------------------------------------------------------------

    @long_running  # (a key pair may be made)
    def launch(
        self,
        p: Principal,
        target: str,
        *,
        public_key: str | None = None,
        expire_seconds: int | None = None,
        reserve: bool = False,
        event_url: str | None = None,
        vpn: bool = False,
    ) -> Launch:
        """An instance on the deployment ``target`` names (its id, or a workspace type: then the
        free one with the shortest queue of those the caller may launch on). When every one is
        busy, a reservation if ``reserve``, else ``Busy``. Without ``public_key`` a key pair is
        made and its private key handed out once in the answer."""
        if vpn:
            raise Invalid("VPN access is not offered by this server: instances are reached over SSH")
        if not isinstance(reserve, bool):
            raise Invalid("reserve must be true or false")
        expire = self.settings.default_expire_seconds if expire_seconds is None else expire_seconds
        if type(expire) is not int or not 1 <= expire <= EXPIRE_MAX:
            raise Invalid(f"the duration (expire_d) is a whole number of seconds from 1 to {EXPIRE_MAX}")
        url = None if event_url is None else events.event_url(event_url)
        private = None
        if public_key is None:
            private, public = keys.key_pair()
        else:
            public = keys.public_key(public_key)
        for attempt in range(5):  # a port taken by a concurrent launch elsewhere: choose again
            try:
                launch, effects = self._launch(p, target, public, expire, url, reserve)
                break
            except Taken:
                if attempt == 4:
                    raise
        launch.private_key = private
        self._after(effects)
        return launch

    def _launch(
        self, p: Principal, target: str, public: str, expire: int, url: str | None, reserve: bool
    ) -> tuple[Launch, builtins.list[Effect]]:
        now = utcnow()
        with self.store.write(conflict=RETRY) as conn:
            candidates = self._candidates(conn, p, target)
            for row in candidates:
                locked = rq.lock_deployment(conn, row["id"])
                if locked is None or rq.active_instance(conn, row["id"]) or locked["queuelen"]:
                    continue
                started = lifecycle.start(
                    conn,
                    self.settings,
                    locked,
                    launched_by=p.id,
                    user_id=p.user_id,
                    public_key=public,
                    expire_seconds=expire,
                    event_url=url,
                    now=now,
                )
                return Launch(instance=started.instance), [started]
            if not reserve:
                raise Busy(BUSY)
            first = candidates[0]
            reservation = {
                "id": new_id(),
                "deployment_id": first["id"],
                "requested_by": p.id,
                "user_id": p.user_id,
                "public_key": public,
                "expire_seconds": expire,
                "event_url": url,
                "created_at": now,
            }
            rq.insert_reservation(conn, reservation)
            return Launch(reservation=Reservation.from_row({**reservation, "type": first["type"]})), []

    def _candidates(self, conn: Tx, p: Principal, target: str) -> builtins.list[Row]:
        if not isinstance(target, str) or not target:
            raise NotFound(policy.NO_DEPLOYMENT)
        if is_uuid(target):
            row = policy.deployment(conn, p, target)
            reason = policy.may_launch(conn, p, row)
            if reason is not None:
                raise PermissionDenied(reason)
            return [row]
        try:
            wanted = workspace_type(target)
        except Invalid:
            raise NotFound(policy.NO_DEPLOYMENT) from None
        rows: builtins.list[Row] = [
            r for r in rq.of_type(conn, policy.seen(conn, p), wanted) if policy.may_launch(conn, p, r) is None
        ]
        if not rows:
            raise NotFound(f"no workspace deployment of type {wanted} that you may launch instances on")
        return rows

    # --- reading ------------------------------------------------------------------------------

    def get(self, p: Principal, instance_id: str) -> Instance:
        with self.store.read() as conn:
            return self._shown(policy.instance(conn, p, instance_id))

    def list(
        self, p: Principal, page: PageRequest, *, include_ended: bool = False, clamp: bool = False
    ) -> Tally[Instance]:
        """The caller's instances, newest first: the active ones, or all with ``include_ended``."""
        with self.store.read() as conn:
            return positioned(
                INSTANCES,
                page,
                lambda limit, start: rq.instances_of(
                    conn, p.id, include_ended=include_ended, limit=limit, offset=start
                ),
                self._shown,
                clamp=clamp,
            )

    def _shown(self, row: Row) -> Instance:
        return Instance.from_row(row, self.settings.public_host)

    def _reread(self, instance_id: str) -> Instance:
        """The instance as it is now, for the agent that reported on it (which may not read
        instances itself)."""
        with self.store.read() as conn:
            row = rq.instance(conn, instance_id)
        if row is None:
            raise NotFound(policy.NO_INSTANCE)
        return self._shown(row)

    # --- ending -------------------------------------------------------------------------------

    def terminate(self, p: Principal, instance_id: str) -> Instance:
        """Ends the instance (whoever launched it, or the deployment's owners): TERMINATING while
        the robot's agent tears the workspace down, TERMINATED at once when no agent holds it."""
        with self.store.write() as conn:
            row = policy.instance(conn, p, instance_id, lock=True)
            if row["status"] == TERMINATING:
                raise Busy(f"instance {row['id']} is being terminated already")
            if row["status"] not in ACTIVE:
                raise FailedPrecondition(f"instance {row['id']} has ended already ({row['status']})")
            effects, waits = self._terminate(conn, row)
            ended = policy.instance(conn, p, row["id"])
        self._after(effects)
        if waits:
            self.host.destroy(self._shown(ended), row["machine_id"])
        return self._shown(ended)

    def _terminate(self, conn: Tx, row: Row, reason: str | None = None) -> tuple[builtins.list[Effect], bool]:
        """Ends or starts ending the instance (locked, active), saying why when it ends by itself
        (``reason``, its ``failure``); what is left to do (the reservation started in its place),
        and whether the agent will confirm."""
        now = utcnow()
        if self.host.connected(row["machine_id"]):
            values: dict[str, object] = {"status": TERMINATING, "terminating_at": now}
            if reason:
                values["failure"] = reason
            rq.update_instance(conn, row["id"], values)
            return [], True
        lifecycle.end(conn, row, TERMINATED, now, reason or "")
        return lifecycle.fulfil(conn, self.settings, row["deployment_id"], now), False

    # --- what the robot's agent reports -------------------------------------------------------

    def instance_ready(self, p: Principal, instance_id: str, hostkey: str) -> Instance:
        """The agent set the workspace up: READY, reached with the workspace's SSH host key (and,
        for a CI job's instance, the agent is asked to run the job)."""
        hostkey = keys.public_key(hostkey, "host key")
        with self.store.write() as conn:
            row = self._reported(conn, p, instance_id)
            if row["status"] != INIT:
                raise FailedPrecondition(f"instance {row['id']} is {row['status']}, not INIT")
            rq.update_instance(conn, row["id"], {"status": READY, "ready_at": utcnow(), "hostkey": hostkey})
            run = lifecycle.job_run(conn, self.settings, row)
        if run is not None:  # a CI job's instance: the agent runs the job now
            self.host.run_job(run, row["machine_id"])
        return self._shown({**row, "status": READY, "hostkey": hostkey})

    def instance_failed(self, p: Principal, instance_id: str, reason: str) -> Instance:
        reason = (
            validate.bounded_text(reason, "failure reason", 1000) or "the robot's agent could not launch it"
        )
        with self.store.write() as conn:
            row = self._reported(conn, p, instance_id)
            if row["status"] != INIT:
                raise FailedPrecondition(f"instance {row['id']} is {row['status']}, not INIT")
            now = utcnow()
            lifecycle.end(conn, row, INIT_FAIL, now, reason)
            effects = lifecycle.fulfil(conn, self.settings, row["deployment_id"], now)
        self._after(effects)
        return self._reread(row["id"])

    def instance_destroyed(self, p: Principal, instance_id: str) -> Instance:
        with self.store.write() as conn:
            row = self._reported(conn, p, instance_id)
            if row["status"] != TERMINATING:
                raise FailedPrecondition(f"instance {row['id']} is {row['status']}, not TERMINATING")
            now = utcnow()
            lifecycle.end(conn, row, TERMINATED, now)
            effects = lifecycle.fulfil(conn, self.settings, row["deployment_id"], now)
        self._after(effects)
        return self._reread(row["id"])

    def instance_lost(self, p: Principal, instance_id: str, reason: str) -> Instance:
        """The robot's agent lost the instance's workspace (it disconnected, or the server could
        not forward to it): INIT becomes INIT_FAIL, READY and TERMINATING become TERMINATED, each
        with the reason; its port and deployment are given back."""
        reason = validate.bounded_text(reason, "failure reason", 1000) or "the robot's agent went away"
        with self.store.write() as conn:
            row = self._reported(conn, p, instance_id)
            if row["status"] not in ACTIVE:
                raise FailedPrecondition(f"instance {row['id']} has ended already ({row['status']})")
            now = utcnow()
            lifecycle.end(conn, row, INIT_FAIL if row["status"] == INIT else TERMINATED, now, reason)
            effects = lifecycle.fulfil(conn, self.settings, row["deployment_id"], now)
        self._after(effects)
        return self._reread(row["id"])

    def agent_returned(self, p: Principal) -> int:
        """The agent of ``p``'s part connected. It wiped every workspace when it lost its previous
        connection (or started), so the READY and TERMINATING instances of its machine end
        (TERMINATED, saying so) unless another part of the machine has an agent online, which may
        hold them; how many ended. Launches still INIT (asked while no agent was connected, or
        lost with the previous connection) are asked of it again; they fail at their launch
        timeout as ever if it does not answer."""
        if p.kind != "part" or p.part_id is None:
            raise PermissionDenied("only a part's agent reports its return")
        with self.store.read() as conn:
            machine_id = rq.part_machine(conn, p.part_id)
            if machine_id is None:
                raise NotFound(f"part {p.part_id} was deleted meanwhile")
            now = utcnow()
            orphans = rq.unhosted(conn, now, machine_id=machine_id, besides=p.part_id)
            pending = rq.unhosted(conn, now, machine_id=machine_id, besides=p.part_id, statuses=(INIT,))
            launches = [row for row in (rq.instance(conn, i) for i in pending) if row is not None]
        ended = self._end_orphans(orphans, RETURNED, destroy=False)
        for row in launches:
            log.info("instance %s: its launch is asked of the returned agent", row["id"])
            self.host.launch(self._shown(row), machine_id)
        return ended

    def _end_orphans(self, ids: Iterable[str], reason: str, *, destroy: bool) -> int:
        """Ends the READY and TERMINATING instances of ``ids`` with ``reason`` (asking the host to
        let go of them with ``destroy``); how many ended."""
        ended = 0
        for instance_id in ids:
            with self.store.write() as conn:
                row = rq.lock_instance(conn, instance_id)
                if row is None or row["status"] not in (READY, TERMINATING):
                    continue  # changed meanwhile
                now = utcnow()
                lifecycle.end(conn, row, TERMINATED, now, reason or "")
                effects = lifecycle.fulfil(conn, self.settings, row["deployment_id"], now)
            ended += 1
            log.info("instance %s ended: %s", instance_id, reason)
            if destroy:
                self.host.destroy(self._shown(row), row["machine_id"])
            self._after(effects)
        return ended

    def verdict(self, p: Principal, instance_id: str, address: str, addon: str | None = None) -> str:
        """What the instance's firewall does with a connection from ``address`` to its forwarding
        port, or to a port of its relayed ``addon``: ACCEPT, DROP or REJECT (see
        ``firewall_verdict``); DROP while the instance, or the add-on, is not active (a port that
        is closing)."""
        instance = self.get(p, instance_id)
        if instance.status not in (INIT, READY) or (
            addon is not None and instance.addons.get(addon) != "active"
        ):
            return "DROP"
        return firewall_verdict(instance.firewall, address)

    def _reported(self, conn: Tx, p: Principal, instance_id: str) -> Row:
        """The instance (locked), if ``p`` is a part of its machine (or the system)."""
        row = rq.lock_instance(conn, policy.instance_id(instance_id))
        if row is None:
            raise NotFound(policy.NO_INSTANCE)
        if p.is_admin:
            return row
        part = rq.part_machine(conn, p.part_id) if p.kind == "part" and p.part_id else None
        if part != row["machine_id"]:
            raise NotFound(policy.NO_INSTANCE)
        return row

    # --- the duty -----------------------------------------------------------------------------

    def sweep(self) -> int:
        """Fails launches the agent did not answer in time, ends expired instances, those whose
        teardown the agent never confirmed and those whose machine has no agent online any more (a
        server process that held their agent's connection died), and starts reservations of free
        deployments; how many instances it changed."""
        now = utcnow()
        timeout = now - timedelta(seconds=self.settings.launch_timeout_seconds)
        with self.store.read() as conn:
            timed_out = rq.due(conn, INIT, "started_at", timeout)
            expired = rq.due(conn, READY, "expires_at", now)
            abandoned = rq.due(conn, TERMINATING, "terminating_at", timeout)
            waiting = rq.waiting_deployments(conn)
            orphans = rq.unhosted(conn, now)
        changed = self._end_orphans(orphans, AGENT_AWAY, destroy=True)
        seconds = f"{self.settings.launch_timeout_seconds:g}"
        for ids, expected, change in (
            (
                timed_out,
                INIT,
                lambda c, r: self._fail(c, r, f"the robot's agent did not answer within {seconds} s"),
            ),
            (expired, READY, self._expire),
            (abandoned, TERMINATING, self._abandon),
        ):
            changed += self._each(ids, expected, change)
        for deployment_id in waiting:
            with self.store.write() as conn:
                effects = lifecycle.fulfil(conn, self.settings, deployment_id, utcnow())
            self._after(effects)
        return changed

    def _expire(self, conn: Tx, row: Row) -> tuple[builtins.list[Effect], bool]:
        reason = f"it expired: its duration (expire_d) was {row['expire_seconds']} s"
        return self._terminate(conn, row, reason)

    def _fail(self, conn: Tx, row: Row, reason: str) -> tuple[builtins.list[Effect], bool]:
        now = utcnow()
        lifecycle.end(conn, row, INIT_FAIL, now, reason)
        return lifecycle.fulfil(conn, self.settings, row["deployment_id"], now), False

    def _abandon(self, conn: Tx, row: Row) -> tuple[builtins.list[Effect], bool]:
        now = utcnow()
        lifecycle.end(conn, row, TERMINATED, now, "the robot's agent did not confirm the teardown")
        return lifecycle.fulfil(conn, self.settings, row["deployment_id"], now), False

    def _each(
        self,
        ids: Iterable[str],
        expected: str,
        change: Callable[[Tx, Row], tuple[builtins.list[Effect], bool]],
    ) -> int:
        changed = 0
        for instance_id in ids:
            with self.store.write() as conn:
                row = rq.lock_instance(conn, instance_id)
                if row is None or row["status"] != expected:
                    continue  # changed meanwhile
                effects, waits = change(conn, row)
            changed += 1
            self._after(effects)
            if waits:
                self.host.destroy(self._shown(row), row["machine_id"])
        return changed

    # --- firewall -----------------------------------------------------------------------------

    def firewall(self, p: Principal, instance_id: str) -> builtins.list[FirewallRule] | None:
        """The instance's firewall rules in order; None when it has no chain yet (every address
        is accepted); an empty list after a flush (every address is dropped)."""
        return self.get(p, instance_id).firewall

    def add_firewall_rule(
        self, p: Principal, instance_id: str, action: str, source: str | None = None
    ) -> builtins.list[FirewallRule]:
        """Appends a rule: ``action`` (ACCEPT, DROP or REJECT) for ``source`` (a CIDR; None: any)."""
        if action not in FIREWALL_ACTIONS:
            raise Invalid(f"a firewall action is one of {', '.join(FIREWALL_ACTIONS)}")
        network = None if source is None else _network(source)
        with self.store.write() as conn:
            row = self._active(conn, p, instance_id)
            rules = list(row["firewall"] or [])
            if len(rules) >= FIREWALL_MAX:
                raise FailedPrecondition(
                    f"an instance has at most {FIREWALL_MAX} firewall rules: flush them first"
                )
            rules.append({"source": network, "action": action})
            rq.update_instance(conn, row["id"], {"firewall": rules})
        return [FirewallRule(x["source"], x["action"]) for x in rules]

    def flush_firewall(self, p: Principal, instance_id: str) -> None:
        """Removes every rule: the chain stays, empty, and drops every address."""
        with self.store.write() as conn:
            row = self._active(conn, p, instance_id)
            rq.update_instance(conn, row["id"], {"firewall": []})

    def _active(self, conn: Tx, p: Principal, instance_id: str) -> Row:
        row = policy.instance(conn, p, instance_id, lock=True)
        if row["status"] not in (INIT, READY):
            raise FailedPrecondition(f"instance {row['id']} is {row['status']}: only active instances change")
        return row

    # --- after a commit -----------------------------------------------------------------------

    def _after(self, effects: builtins.list[Effect]) -> None:
        """Asks the agents to set the started instances up, and tells the event URLs of the
        reservations started or dropped."""
        for effect in effects:
            if isinstance(effect, Started):
                self.host.launch(effect.instance, effect.machine_id)
            else:
                log.info("reservation %s dropped: %s", effect.reservation_id, effect.reason)
            events.announce(self.dispatcher, effect)


def firewall_verdict(rules: builtins.list[FirewallRule] | None, address: str) -> str:
    """The action for a connection from ``address``: ACCEPT when the instance has no chain yet;
    otherwise the action of the first rule whose source (None: any) holds the address, and DROP
    when none does (a flushed chain drops every address)."""
    if rules is None:
        return "ACCEPT"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "DROP"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for rule in rules:
        if rule.source is None or ip in ipaddress.ip_network(rule.source, strict=False):
            return rule.action
    return "DROP"


RETRY = "a forwarding port was taken by a concurrent launch"
RETURNED = (
    "the robot's agent connected again without its workspace (an agent wipes its workspaces when "
    "it loses its connection to the server, as when the server restarted)"
)
AGENT_AWAY = "the robot's agent is no longer connected to the server; its workspace is gone"


def _network(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("a firewall source is an address or network in CIDR form, like 192.0.2.0/24")
    validate.bounded_text(value, "firewall source", 64)
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise Invalid(
            f"{value[:64]!r} is not an address or network in CIDR form, like 192.0.2.0/24"
        ) from None
