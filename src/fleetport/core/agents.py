"""Part agents: the program on a robot's computer that holds one connection to the server.

An agent acts as its part (authenticated by the part's secret): it is present while connected,
heartbeats keep its machine online and its part's last access current, it reads its part's config,
and it delivers what it buffered on the robot (log batches, dataport points) as numbered messages
of a delivery stream. Each delivered message is stored in one transaction together with its
sequence number (``agent_deliveries``): a message at or below the last stored number of its
stream was stored already and is acknowledged again without a second write, so a message the
agent sends again (its acknowledgement was lost with the connection) is stored exactly once.

A part agent may write its own part's logs and its own machine's dataports (as the machine's
device client), and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fleetport.core import access
from fleetport.core.dataports import Dataports, PointsWritten
from fleetport.core.errors import FailedPrecondition, Invalid, NotFound, PermissionDenied
from fleetport.core.logs import Logs, NewLogEntry
from fleetport.core.models import as_utc, utcnow
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import Telemetry
from fleetport.core.telemetry.model import Effects
from fleetport.store import Row, Store, Tx
from fleetport.store import agents as agents_store
from fleetport.store import queries as q

STREAM_MAX = 200  # characters of a delivery stream's name
SEQ_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class AgentPart:
    """What a connecting agent learns: its part and machine, the part's config, and the last
    stored sequence number of each of its delivery streams."""

    part_id: str
    machine_id: str
    config: dict[str, Any]
    config_updated_at: datetime | None
    delivered: dict[str, int]


@dataclass(frozen=True)
class PartConfigState:
    config: dict[str, Any]
    updated_at: datetime | None


@dataclass(frozen=True)
class Enrolment:
    """What an agent needs to connect as a part: its id and one of its secrets."""

    part_id: str
    secret: str


class Agents:
    def __init__(
        self, store: Store, logs: Logs, telemetry: Telemetry, dataports: Dataports, online_seconds: float
    ) -> None:
        self.store = store
        self.logs = logs
        self.telemetry = telemetry
        self.dataports = dataports
        self.online_for = timedelta(seconds=online_seconds)

    def _own_part(self, conn: Tx, p: Principal) -> tuple[Row, Row]:
        if p.kind != "part" or p.part_id is None:
            raise PermissionDenied("only a part's agent, with the part's secret, connects as an agent")
        return access.part(conn, p, "read_robot_config", p.part_id)

    def connect(self, p: Principal) -> AgentPart:
        """The agent of the part connected: it is online from now on."""
        now = utcnow()
        with self.store.write() as conn:
            part, _ = self._own_part(conn, p)
            agents_store.seen(conn, part["id"], now, now + self.online_for)
            delivered = agents_store.last_delivered(conn, part["id"])
        return AgentPart(
            part["id"],
            part["machine_id"],
            dict(part["config"] or {}),
            as_utc(part["config_updated_at"]),
            delivered,
        )

    def heartbeat(self, p: Principal) -> None:
        """The agent is still there: online for another while, last access now."""
        now = utcnow()
        with self.store.write() as conn:
            part, _ = self._own_part(conn, p)
            if not agents_store.seen(conn, part["id"], now, now + self.online_for):
                raise NotFound(f"part {part['id']} was deleted meanwhile")

    def disconnect(self, p: Principal) -> None:
        """The agent's connection ended: offline at once (its last access stays)."""
        if p.kind != "part" or p.part_id is None:
            raise PermissionDenied("only a part's agent disconnects as an agent")
        with self.store.write() as conn:
            agents_store.gone(conn, p.part_id)

    def online_parts(self, machine_id: str) -> list[str]:
        """The parts of the machine whose agents are connected now, to any server process, by id.
        For the agent hub only, which routes there what core already allowed (no principal)."""
        with self.store.read() as conn:
            return agents_store.online_parts(conn, machine_id, utcnow())

    def config(self, p: Principal) -> PartConfigState:
        with self.store.read() as conn:
            part, _ = self._own_part(conn, p)
        return PartConfigState(dict(part["config"] or {}), as_utc(part["config_updated_at"]))

    def deliver_logs(self, p: Principal, stream: str, seq: int, entries: Sequence[NewLogEntry]) -> bool:
        """Stores a log batch of the agent's part as message ``seq`` of ``stream``, once: False
        when that message was stored already (nothing is written again)."""
        _check_delivery(stream, seq)
        with self.store.write() as conn:
            part, _ = self._own_part(conn, p)
            if not agents_store.advance(conn, part["id"], stream, seq):
                return False
            written = self.logs.append_in(conn, p, part["id"], entries)
        self.logs.after(written)
        return True

    def deliver_points(
        self, p: Principal, stream: str, seq: int, alias: str, points: Sequence[Mapping[str, Any]]
    ) -> PointsWritten | None:
        """Stores points in a dataport of the agent's machine (by alias or RID) as message ``seq``
        of ``stream``, once: None when that message was stored already. As the native points
        write: a malformed point refuses the batch; points that do not fit are reported."""
        _check_delivery(stream, seq)
        effects = Effects()
        with self.store.write() as conn:
            part, machine = self._own_part(conn, p)
            if not agents_store.advance(conn, part["id"], stream, seq):
                return None
            device = self.telemetry.clients.device_in(conn, machine, p.display)
            written = self.dataports.write_in(conn, device, alias, points, effects)
        self.telemetry.points.after(effects)
        return written

    def enrolment(self, p: Principal, part_id: str) -> Enrolment:
        """The part's id and its oldest secret, for callers who may manage the part's secrets."""
        with self.store.read() as conn:
            part, _ = access.part(conn, p, "manage_robot_secrets", part_id)
            secrets = q.find(conn, "part_secrets", order_by="created_at", part_id=part["id"])
        if not secrets:
            raise FailedPrecondition(f"part {part['id']} has no secret: create one first")
        return Enrolment(part["id"], str(secrets[0]["secret"]))


def _check_delivery(stream: object, seq: object) -> None:
    if not isinstance(stream, str) or not 0 < len(stream) <= STREAM_MAX or "\x00" in stream:
        raise Invalid(f"a delivery stream is named by 1 to {STREAM_MAX} characters")
    if type(seq) is not int or not 0 < seq <= SEQ_MAX:
        raise Invalid("a sequence number is a whole number from 1 to 2**63 - 1")
