"""``viam.app.v1.AppService``: each RPC parses its request, calls the core as the caller named by
the bearer token, and answers in Viam's messages. Core errors become gRPC statuses."""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream
from viam.proto import app as pb
from viam.proto.app import UnimplementedAppServiceBase
from viam.proto.common import LogEntry as LogEntryProto

from fleetport.bus import SubscriberTooSlow
from fleetport.core import errors, models, validate
from fleetport.core.calls import Call
from fleetport.core.fleet import Fleet
from fleetport.core.logs import ERROR_LEVELS, LogEntry, open_tail
from fleetport.core.permissions import Principal
from fleetport.dialects.viam import convert as cv

log = logging.getLogger("fleetport.viam")
R = TypeVar("R")

STATUS: list[tuple[type[errors.CoreError], Status]] = [
    (errors.MalformedId, Status.INVALID_ARGUMENT),
    (errors.NotFound, Status.NOT_FOUND),
    (errors.Invalid, Status.INVALID_ARGUMENT),
    (errors.TooLarge, Status.INVALID_ARGUMENT),
    (errors.Unauthenticated, Status.UNAUTHENTICATED),
    (errors.PermissionDenied, Status.PERMISSION_DENIED),
    (errors.Conflict, Status.ALREADY_EXISTS),
    (errors.FailedPrecondition, Status.FAILED_PRECONDITION),
]


MESSAGE_MAX = 1000  # characters of an error message: it travels in a header (grpc-message)


def grpc_error(exc: errors.CoreError) -> GRPCError:
    """The status for a core error. Its message is cut short: one that quotes a long value back
    would exceed the limit a client sets on headers, which drops the whole connection."""
    status = next((s for kind, s in STATUS if isinstance(exc, kind)), Status.UNKNOWN)
    message = exc.message
    if len(message) > MESSAGE_MAX:
        message = f"{message[: MESSAGE_MAX - 20]}... ({len(message)} characters)"
    return GRPCError(status, message)


def bearer(stream: Stream[Any, Any]) -> str:
    metadata: Any = stream.metadata or {}
    header = metadata.get("authorization", "")
    scheme, _, token = str(header).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthenticated(
            "missing or malformed 'authorization: Bearer <token>' metadata;"
            " authenticate with an API key first"
        )
    return token.strip()


Handler = Callable[["AppService", Call, Any], Awaitable[Any]]


def unary(handler: Handler) -> Callable[[AppService, Stream[Any, Any]], Coroutine[Any, Any, None]]:
    """One request, one response; the request's caller authenticated by its bearer token."""

    @functools.wraps(handler)
    async def rpc(self: AppService, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        async with _errors():
            call = Call(self.fleet, bearer(stream))
            response = await handler(self, call, request)
        await stream.send_message(response)

    return rpc


class _errors:
    """Core errors become gRPC statuses; anything else is logged and answered INTERNAL."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> bool:
        if exc is None or isinstance(exc, GRPCError):
            return False
        if isinstance(exc, errors.CoreError):
            raise grpc_error(exc) from None
        if isinstance(exc, Exception):
            rid = uuid.uuid4().hex
            log.exception("unexpected error in a Viam RPC (error id %s)", rid)
            raise GRPCError(
                Status.INTERNAL, f"internal error; the server log has the details under {rid}"
            ) from None
        return False


def _part_config(req: pb.UpdateRobotPartRequest) -> dict[str, Any] | None:
    """The config an update sets: ``robot_config_json`` (JSON text in the user's key order) wins
    over ``robot_config``; None when it sets none."""
    if req.HasField("robot_config_json"):
        try:
            config = json.loads(req.robot_config_json)
        except ValueError as exc:
            raise errors.Invalid(f"robot_config_json is not JSON: {exc}") from None
        if not isinstance(config, dict):
            raise errors.Invalid("robot_config_json must be a JSON object")
        return config
    return cv.from_struct(req.robot_config) if req.HasField("robot_config") else None


def _time(req: Any, field: str) -> datetime | None:
    """A request's time field (None when unset); one a datetime cannot hold is refused."""
    if not req.HasField(field):
        return None
    try:
        return getattr(req, field).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]
    except (ValueError, OverflowError) as exc:
        raise errors.Invalid(f"{field} is not a valid time: {exc}") from None


def _required(value: str, what: str) -> str:
    if not value:
        raise errors.Invalid(f"{what} is required")
    return value


class AppService(UnimplementedAppServiceBase):
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        # Every tail of a part receives the same new entries: each is converted once, not once per tail.
        self._log_protos: OrderedDict[int, LogEntryProto] = OrderedDict()

    def _log_proto(self, entry: LogEntry) -> LogEntryProto:
        proto = self._log_protos.get(entry.id)
        if proto is None:
            proto = self._log_protos[entry.id] = cv.log_entry(entry)
            if len(self._log_protos) > LOG_PROTO_CACHE:
                self._log_protos.popitem(last=False)
        return proto

    # --- users and organizations ------------------------------------------------------------

    @unary
    async def GetUserIDByEmail(
        self, call: Call, req: pb.GetUserIDByEmailRequest
    ) -> pb.GetUserIDByEmailResponse:
        def find(p: Principal) -> str:
            user = self.fleet.identity.find_user_by_email(req.email)
            if user is None:
                raise errors.NotFound(f"no user has the email {req.email}")
            return user.id

        return pb.GetUserIDByEmailResponse(user_id=await call(find))

    @unary
    async def CreateOrganization(
        self, call: Call, req: pb.CreateOrganizationRequest
    ) -> pb.CreateOrganizationResponse:
        org = await call(self.fleet.organizations.create, req.name)
        return pb.CreateOrganizationResponse(organization=cv.organization(org))

    @unary
    async def ListOrganizations(
        self, call: Call, req: pb.ListOrganizationsRequest
    ) -> pb.ListOrganizationsResponse:
        orgs = await call(_all_pages, self.fleet.organizations.list)
        return pb.ListOrganizationsResponse(organizations=[cv.organization(o) for o in orgs])

    @unary
    async def GetOrganizationsWithAccessToLocation(
        self, call: Call, req: pb.GetOrganizationsWithAccessToLocationRequest
    ) -> pb.GetOrganizationsWithAccessToLocationResponse:
        found = await call(
            self.fleet.locations.organizations_with_access, _required(req.location_id, "location_id")
        )
        return pb.GetOrganizationsWithAccessToLocationResponse(
            organization_identities=[pb.OrganizationIdentity(id=org_id, name=name) for org_id, name in found]
        )

    @unary
    async def ListOrganizationsByUser(
        self, call: Call, req: pb.ListOrganizationsByUserRequest
    ) -> pb.ListOrganizationsByUserResponse:
        orgs = await call(self.fleet.organizations.list_for_user, _required(req.user_id, "user_id"))
        return pb.ListOrganizationsByUserResponse(
            orgs=[
                pb.OrgDetails(
                    org_id=o.id, org_name=o.name, org_cid=o.cid, public_namespace=o.public_namespace or ""
                )
                for o in orgs
            ]
        )

    @unary
    async def GetOrganization(self, call: Call, req: pb.GetOrganizationRequest) -> pb.GetOrganizationResponse:
        org = await call(self.fleet.organizations.get, _required(req.organization_id, "organization_id"))
        return pb.GetOrganizationResponse(organization=cv.organization(org))

    @unary
    async def GetOrganizationNamespaceAvailability(
        self, call: Call, req: pb.GetOrganizationNamespaceAvailabilityRequest
    ) -> pb.GetOrganizationNamespaceAvailabilityResponse:
        available = await call(self.fleet.organizations.namespace_available, req.public_namespace)
        return pb.GetOrganizationNamespaceAvailabilityResponse(available=available)

    @unary
    async def UpdateOrganization(
        self, call: Call, req: pb.UpdateOrganizationRequest
    ) -> pb.UpdateOrganizationResponse:
        org = await call(
            self.fleet.organizations.update,
            _required(req.organization_id, "organization_id"),
            name=req.name if req.HasField("name") else None,  # an empty name given is refused
            public_namespace=req.public_namespace or None,
            region=req.region or None,
            cid=req.cid or None,
        )
        return pb.UpdateOrganizationResponse(organization=cv.organization(org))

    @unary
    async def DeleteOrganization(
        self, call: Call, req: pb.DeleteOrganizationRequest
    ) -> pb.DeleteOrganizationResponse:
        await call(self.fleet.organizations.delete, _required(req.organization_id, "organization_id"))
        return pb.DeleteOrganizationResponse()

    @unary
    async def ListOrganizationMembers(
        self, call: Call, req: pb.ListOrganizationMembersRequest
    ) -> pb.ListOrganizationMembersResponse:
        org_id = _required(req.organization_id, "organization_id")

        def everyone(p: Principal) -> tuple[list[Any], list[Any]]:
            members = _all_pages(
                p, lambda p_, limit, cursor: self.fleet.organizations.members(p_, org_id, limit, cursor)
            )
            invites = _all_pages(
                p, lambda p_, limit, cursor: self.fleet.organizations.invites(p_, org_id, limit, cursor)
            )
            return members, invites

        members, invites = await call(everyone)
        return pb.ListOrganizationMembersResponse(
            organization_id=org_id,
            members=[
                pb.OrganizationMember(
                    user_id=m.user.id,
                    emails=[m.user.email],
                    date_added=cv.ts(
                        min((a.created_at for a in m.authorizations), default=m.user.created_at)
                    ),
                )
                for m in members
            ],
            invites=[cv.invite(i) for i in invites],
        )

    @unary
    async def CreateOrganizationInvite(
        self, call: Call, req: pb.CreateOrganizationInviteRequest
    ) -> pb.CreateOrganizationInviteResponse:
        org_id = _required(req.organization_id, "organization_id")
        # without authorizations Viam's invite grants full owner permissions on the organization
        grants = [cv.grant_of(a) for a in req.authorizations] or [
            models.GrantSpec("owner", "organization", org_id)
        ]
        invite = await call(self.fleet.organizations.invite, org_id, req.email, grants)
        return pb.CreateOrganizationInviteResponse(invite=cv.invite(invite))

    @unary
    async def UpdateOrganizationInviteAuthorizations(
        self, call: Call, req: pb.UpdateOrganizationInviteAuthorizationsRequest
    ) -> pb.UpdateOrganizationInviteAuthorizationsResponse:
        org_id = _required(req.organization_id, "organization_id")
        add = [cv.grant_of(a) for a in req.add_authorizations]
        remove = [cv.grant_of(a) for a in req.remove_authorizations]

        def update(p: Principal) -> Any:
            found = self.fleet.organizations.find_invite(p, org_id, req.email)
            return self.fleet.organizations.update_invite(p, org_id, found.id, add=add, remove=remove)

        return pb.UpdateOrganizationInviteAuthorizationsResponse(invite=cv.invite(await call(update)))

    @unary
    async def DeleteOrganizationMember(
        self, call: Call, req: pb.DeleteOrganizationMemberRequest
    ) -> pb.DeleteOrganizationMemberResponse:
        await call(
            self.fleet.organizations.remove_member,
            _required(req.organization_id, "organization_id"),
            _required(req.user_id, "user_id"),
        )
        return pb.DeleteOrganizationMemberResponse()

    @unary
    async def DeleteOrganizationInvite(
        self, call: Call, req: pb.DeleteOrganizationInviteRequest
    ) -> pb.DeleteOrganizationInviteResponse:
        org_id = _required(req.organization_id, "organization_id")

        def delete(p: Principal) -> None:
            found = self.fleet.organizations.find_invite(p, org_id, req.email)
            self.fleet.organizations.delete_invite(p, org_id, found.id)

        await call(delete)
        return pb.DeleteOrganizationInviteResponse()

    @unary
    async def ResendOrganizationInvite(
        self, call: Call, req: pb.ResendOrganizationInviteRequest
    ) -> pb.ResendOrganizationInviteResponse:
        org_id = _required(req.organization_id, "organization_id")

        def resend(p: Principal) -> Any:
            found = self.fleet.organizations.find_invite(p, org_id, req.email)
            return self.fleet.organizations.resend_invite(p, org_id, found.id)

        return pb.ResendOrganizationInviteResponse(invite=cv.invite(await call(resend)))

    # --- locations --------------------------------------------------------------------------

    def _location(self, p: Principal, location_id: str) -> pb.Location:
        loc = self.fleet.locations.get(p, location_id)
        return cv.location(loc, self.fleet.locations.robot_count(p, loc.id))

    @unary
    async def CreateLocation(self, call: Call, req: pb.CreateLocationRequest) -> pb.CreateLocationResponse:
        def create(p: Principal) -> pb.Location:
            loc = self.fleet.locations.create(
                p,
                _required(req.organization_id, "organization_id"),
                req.name,
                parent_id=req.parent_location_id or None,
            )
            return self._location(p, loc.id)

        return pb.CreateLocationResponse(location=await call(create))

    @unary
    async def GetLocation(self, call: Call, req: pb.GetLocationRequest) -> pb.GetLocationResponse:
        location_id = _required(req.location_id, "location_id")
        return pb.GetLocationResponse(location=await call(self._location, location_id))

    @unary
    async def UpdateLocation(self, call: Call, req: pb.UpdateLocationRequest) -> pb.UpdateLocationResponse:
        location_id = _required(req.location_id, "location_id")
        # Viam: name "" keeps the name; parent_location_id "" makes it a top-level location and
        # leaving it out keeps the parent
        parent_id = req.parent_location_id if req.HasField("parent_location_id") else None

        def update(p: Principal) -> pb.Location:
            self.fleet.locations.update(p, location_id, name=req.name or None, parent_id=parent_id)
            return self._location(p, location_id)

        return pb.UpdateLocationResponse(location=await call(update))

    @unary
    async def DeleteLocation(self, call: Call, req: pb.DeleteLocationRequest) -> pb.DeleteLocationResponse:
        await call(self.fleet.locations.delete, _required(req.location_id, "location_id"))
        return pb.DeleteLocationResponse()

    @unary
    async def ListLocations(self, call: Call, req: pb.ListLocationsRequest) -> pb.ListLocationsResponse:
        org_id = _required(req.organization_id, "organization_id")

        def every(p: Principal) -> list[pb.Location]:
            found = _all_pages(
                p,
                lambda p_, limit, cursor: self.fleet.locations.list(
                    p_, limit, cursor, organization_id=org_id
                ),
            )
            return [cv.location(loc, self.fleet.locations.robot_count(p, loc.id)) for loc in found]

        return pb.ListLocationsResponse(locations=await call(every))

    @unary
    async def ShareLocation(self, call: Call, req: pb.ShareLocationRequest) -> pb.ShareLocationResponse:
        await call(
            self.fleet.locations.share,
            _required(req.location_id, "location_id"),
            _required(req.organization_id, "organization_id"),
        )
        return pb.ShareLocationResponse()

    @unary
    async def UnshareLocation(self, call: Call, req: pb.UnshareLocationRequest) -> pb.UnshareLocationResponse:
        await call(
            self.fleet.locations.unshare,
            _required(req.location_id, "location_id"),
            _required(req.organization_id, "organization_id"),
        )
        return pb.UnshareLocationResponse()

    def _location_auth(self, p: Principal, location_id: str) -> pb.LocationAuth:
        return cv.location_auth(location_id, self.fleet.locations.secrets(p, location_id))

    @unary
    async def LocationAuth(self, call: Call, req: pb.LocationAuthRequest) -> pb.LocationAuthResponse:
        location_id = _required(req.location_id, "location_id")
        return pb.LocationAuthResponse(auth=await call(self._location_auth, location_id))

    @unary
    async def CreateLocationSecret(
        self, call: Call, req: pb.CreateLocationSecretRequest
    ) -> pb.CreateLocationSecretResponse:
        location_id = _required(req.location_id, "location_id")

        def create(p: Principal) -> pb.LocationAuth:
            self.fleet.locations.create_secret(p, location_id)
            return self._location_auth(p, location_id)

        return pb.CreateLocationSecretResponse(auth=await call(create))

    @unary
    async def DeleteLocationSecret(
        self, call: Call, req: pb.DeleteLocationSecretRequest
    ) -> pb.DeleteLocationSecretResponse:
        await call(
            self.fleet.locations.delete_secret,
            _required(req.location_id, "location_id"),
            _required(req.secret_id, "secret_id"),
        )
        return pb.DeleteLocationSecretResponse()

    # --- robots and parts -------------------------------------------------------------------

    def _robot(self, p: Principal, machine_id: str) -> pb.Robot:
        machine = self.fleet.machines.get(p, machine_id)
        parts = self.fleet.machines.parts(p, machine.id)
        seen = [part.last_access for part in parts if part.last_access]
        return cv.robot(machine, max(seen) if seen else None)

    def _part(self, p: Principal, part_id: str) -> pb.RobotPart:
        return cv.robot_part(*self.fleet.machines.part_details(p, part_id))

    @unary
    async def GetRobot(self, call: Call, req: pb.GetRobotRequest) -> pb.GetRobotResponse:
        return pb.GetRobotResponse(robot=await call(self._robot, _required(req.id, "id")))

    @unary
    async def GetRoverRentalRobots(
        self, call: Call, req: pb.GetRoverRentalRobotsRequest
    ) -> pb.GetRoverRentalRobotsResponse:
        org_id = _required(req.org_id, "org_id")

        def rentals(p: Principal) -> list[pb.RoverRentalRobot]:
            self.fleet.organizations.get(p, org_id)
            machines = _all_pages(
                p,
                lambda p_, limit, cursor: self.fleet.machines.list(
                    p_, limit, cursor, organization_id=org_id, rentable=True
                ),
            )
            out = []
            for m in machines:
                main = next((part.id for part in self.fleet.machines.parts(p, m.id) if part.main_part), "")
                out.append(
                    pb.RoverRentalRobot(
                        robot_id=m.id, location_id=m.location_id, robot_name=m.name, robot_main_part_id=main
                    )
                )
            return out

        return pb.GetRoverRentalRobotsResponse(robots=await call(rentals))

    @unary
    async def GetRobotParts(self, call: Call, req: pb.GetRobotPartsRequest) -> pb.GetRobotPartsResponse:
        robot_id = _required(req.robot_id, "robot_id")

        def parts(p: Principal) -> list[pb.RobotPart]:
            return [self._part(p, part.id) for part in self.fleet.machines.parts(p, robot_id)]

        return pb.GetRobotPartsResponse(parts=await call(parts))

    @unary
    async def GetRobotPart(self, call: Call, req: pb.GetRobotPartRequest) -> pb.GetRobotPartResponse:
        part = await call(self._part, _required(req.id, "id"))
        return pb.GetRobotPartResponse(part=part, config_json=part.robot_config_json)

    @unary
    async def GetRobotPartHistory(
        self, call: Call, req: pb.GetRobotPartHistoryRequest
    ) -> pb.GetRobotPartHistoryResponse:
        part_id = _required(req.id, "id")
        start, end = _time(req, "start"), _time(req, "end")
        limit = req.page_limit if req.page_limit > 0 else None

        def history(p: Principal) -> list[pb.RobotPartHistoryEntry]:
            part = self.fleet.machines.get_part(p, part_id)
            machine = self.fleet.machines.get(p, part.machine_id)
            entries = []
            for rev in _all_pages(
                p, lambda p_, lim, cursor: self.fleet.machines.config_history(p_, part_id, lim, cursor)
            ):
                if (start and rev.edited_at < start) or (end and rev.edited_at >= end):
                    continue
                entries.append(
                    pb.RobotPartHistoryEntry(
                        part=part.id,
                        robot=machine.id,
                        when=cv.ts(rev.edited_at),
                        old=cv.robot_part(part, machine, [], config=rev.previous_config),
                        edited_by=cv.authenticator(rev.edited_by),
                    )
                )
                if limit and len(entries) >= limit:
                    break
            return entries

        return pb.GetRobotPartHistoryResponse(history=await call(history))

    @unary
    async def UpdateRobotPart(self, call: Call, req: pb.UpdateRobotPartRequest) -> pb.UpdateRobotPartResponse:
        part_id = _required(req.id, "id")
        config = _part_config(req)
        unchanged_since = _time(req, "last_known_update")

        def update(p: Principal) -> pb.RobotPart:
            if config is not None:  # first: a stale config refuses the whole update
                validate.name(req.name, "part name")
                self.fleet.machines.set_config(p, part_id, config, unchanged_since=unchanged_since)
            self.fleet.machines.update_part(p, part_id, name=req.name)  # an empty name is refused
            return self._part(p, part_id)

        return pb.UpdateRobotPartResponse(part=await call(update))

    @unary
    async def NewRobotPart(self, call: Call, req: pb.NewRobotPartRequest) -> pb.NewRobotPartResponse:
        part = await call(self.fleet.machines.create_part, _required(req.robot_id, "robot_id"), req.part_name)
        return pb.NewRobotPartResponse(part_id=part.id)

    @unary
    async def DeleteRobotPart(self, call: Call, req: pb.DeleteRobotPartRequest) -> pb.DeleteRobotPartResponse:
        await call(self.fleet.machines.delete_part, _required(req.part_id, "part_id"))
        return pb.DeleteRobotPartResponse()

    @unary
    async def GetRobotAPIKeys(self, call: Call, req: pb.GetRobotAPIKeysRequest) -> pb.GetRobotAPIKeysResponse:
        keys = await call(self.fleet.identity.keys_for_robot, _required(req.robot_id, "robot_id"))
        return pb.GetRobotAPIKeysResponse(api_keys=[cv.api_key_with_authorizations(k) for k in keys])

    @unary
    async def MarkPartAsMain(self, call: Call, req: pb.MarkPartAsMainRequest) -> pb.MarkPartAsMainResponse:
        await call(self.fleet.machines.update_part, _required(req.part_id, "part_id"), main_part=True)
        return pb.MarkPartAsMainResponse()

    @unary
    async def MarkPartForRestart(
        self, call: Call, req: pb.MarkPartForRestartRequest
    ) -> pb.MarkPartForRestartResponse:
        await call(self.fleet.machines.mark_restart, _required(req.part_id, "part_id"))
        return pb.MarkPartForRestartResponse()

    @unary
    async def CreateRobotPartSecret(
        self, call: Call, req: pb.CreateRobotPartSecretRequest
    ) -> pb.CreateRobotPartSecretResponse:
        part_id = _required(req.part_id, "part_id")

        def create(p: Principal) -> pb.RobotPart:
            self.fleet.machines.create_secret(p, part_id)
            return self._part(p, part_id)

        return pb.CreateRobotPartSecretResponse(part=await call(create))

    @unary
    async def DeleteRobotPartSecret(
        self, call: Call, req: pb.DeleteRobotPartSecretRequest
    ) -> pb.DeleteRobotPartSecretResponse:
        await call(
            self.fleet.machines.delete_secret,
            _required(req.part_id, "part_id"),
            _required(req.secret_id, "secret_id"),
        )
        return pb.DeleteRobotPartSecretResponse()

    @unary
    async def ListRobots(self, call: Call, req: pb.ListRobotsRequest) -> pb.ListRobotsResponse:
        location_id = _required(req.location_id, "location_id")

        def robots(p: Principal) -> list[pb.Robot]:
            machines = _all_pages(
                p,
                lambda p_, limit, cursor: self.fleet.machines.list(
                    p_, limit, cursor, location_id=location_id
                ),
            )
            return [self._robot(p, m.id) for m in machines]

        return pb.ListRobotsResponse(robots=await call(robots))

    @unary
    async def NewRobot(self, call: Call, req: pb.NewRobotRequest) -> pb.NewRobotResponse:
        machine = await call(self.fleet.machines.create, _required(req.location, "location"), req.name)
        return pb.NewRobotResponse(id=machine.id)

    @unary
    async def UpdateRobot(self, call: Call, req: pb.UpdateRobotRequest) -> pb.UpdateRobotResponse:
        robot_id = _required(req.id, "id")

        def update(p: Principal) -> pb.Robot:
            # an empty name is refused; location "" keeps the location
            self.fleet.machines.update(p, robot_id, name=req.name, location_id=req.location or None)
            return self._robot(p, robot_id)

        return pb.UpdateRobotResponse(robot=await call(update))

    @unary
    async def DeleteRobot(self, call: Call, req: pb.DeleteRobotRequest) -> pb.DeleteRobotResponse:
        await call(self.fleet.machines.delete, _required(req.id, "id"))
        return pb.DeleteRobotResponse()

    # --- roles and keys ---------------------------------------------------------------------

    @unary
    async def AddRole(self, call: Call, req: pb.AddRoleRequest) -> pb.AddRoleResponse:
        a = req.authorization
        await call(
            self.fleet.identity.grant_to,
            _required(a.organization_id, "organization_id"),
            _required(a.identity_id, "identity_id"),
            cv.grant_of(a),
        )
        return pb.AddRoleResponse()

    @unary
    async def RemoveRole(self, call: Call, req: pb.RemoveRoleRequest) -> pb.RemoveRoleResponse:
        a = req.authorization
        await call(
            self.fleet.identity.revoke_from,
            _required(a.organization_id, "organization_id"),
            _required(a.identity_id, "identity_id"),
            cv.grant_of(a),
        )
        return pb.RemoveRoleResponse()

    @unary
    async def ChangeRole(self, call: Call, req: pb.ChangeRoleRequest) -> pb.ChangeRoleResponse:
        old, new = req.old_authorization, req.new_authorization
        org_id = _required(old.organization_id or new.organization_id, "organization_id")
        if new.organization_id and new.organization_id != org_id:
            raise errors.Invalid("a role can only change within one organization")
        await call(
            self.fleet.identity.change_grant,
            org_id,
            _required(old.identity_id, "old identity_id"),
            cv.grant_of(old),
            _required(new.identity_id, "new identity_id"),
            cv.grant_of(new),
        )
        return pb.ChangeRoleResponse()

    @unary
    async def ListAuthorizations(
        self, call: Call, req: pb.ListAuthorizationsRequest
    ) -> pb.ListAuthorizationsResponse:
        org_id = _required(req.organization_id, "organization_id")
        wanted = set(req.resource_ids)
        found = await call(
            _all_pages,
            lambda p_, limit, cursor: self.fleet.identity.list_authorizations(p_, org_id, limit, cursor),
        )
        return pb.ListAuthorizationsResponse(
            authorizations=[cv.authorization(a) for a in found if not wanted or a.resource_id in wanted]
        )

    @unary
    async def CheckPermissions(
        self, call: Call, req: pb.CheckPermissionsRequest
    ) -> pb.CheckPermissionsResponse:
        asked = list(req.permissions)
        if not asked:
            raise errors.Invalid("permissions is empty: name at least one resource and its permissions")

        def check(p: Principal) -> list[pb.AuthorizedPermissions]:
            out = []
            for item in asked:
                try:
                    granted = self.fleet.identity.check_permissions(
                        p, item.resource_type, item.resource_id, list(item.permissions), unknown_denied=True
                    )
                except (errors.PermissionDenied, errors.NotFound):
                    granted = []
                out.append(
                    pb.AuthorizedPermissions(
                        resource_type=item.resource_type, resource_id=item.resource_id, permissions=granted
                    )
                )
            return out

        return pb.CheckPermissionsResponse(authorized_permissions=await call(check))

    @unary
    async def CreateKey(self, call: Call, req: pb.CreateKeyRequest) -> pb.CreateKeyResponse:
        if not req.authorizations:
            raise errors.Invalid("an API key needs at least one authorization")
        orgs = {a.organization_id for a in req.authorizations}
        if len(orgs) != 1 or "" in orgs:
            raise errors.Invalid("every authorization of a key must name the same organization_id")
        grants = [cv.grant_of(a) for a in req.authorizations]
        name = req.name or f"key {uuid.uuid4().hex[:8]}"
        key = await call(self.fleet.identity.create_key, orgs.pop(), name, grants)
        return pb.CreateKeyResponse(key=key.secret or "", id=key.id)

    @unary
    async def DeleteKey(self, call: Call, req: pb.DeleteKeyRequest) -> pb.DeleteKeyResponse:
        await call(self.fleet.identity.delete_key, _required(req.id, "id"))
        return pb.DeleteKeyResponse()

    @unary
    async def CreateKeyFromExistingKeyAuthorizations(
        self, call: Call, req: pb.CreateKeyFromExistingKeyAuthorizationsRequest
    ) -> pb.CreateKeyFromExistingKeyAuthorizationsResponse:
        key = await call(self.fleet.identity.clone_key, _required(req.id, "id"))
        return pb.CreateKeyFromExistingKeyAuthorizationsResponse(key=key.secret or "", id=key.id)

    @unary
    async def ListKeys(self, call: Call, req: pb.ListKeysRequest) -> pb.ListKeysResponse:
        org_id = _required(req.org_id, "org_id")
        keys = await call(
            _all_pages, lambda p_, limit, cursor: self.fleet.identity.list_keys(p_, org_id, limit, cursor)
        )
        return pb.ListKeysResponse(api_keys=[cv.api_key_with_authorizations(k) for k in keys])

    @unary
    async def RotateKey(self, call: Call, req: pb.RotateKeyRequest) -> pb.RotateKeyResponse:
        key = await call(self.fleet.identity.rotate_key, _required(req.id, "id"))
        return pb.RotateKeyResponse(key=key.secret or "", id=key.id)

    # --- part logs --------------------------------------------------------------------------

    @unary
    async def GetRobotPartLogs(
        self, call: Call, req: pb.GetRobotPartLogsRequest
    ) -> pb.GetRobotPartLogsResponse:
        if req.range:
            raise errors.Invalid("range is not supported: give start and end instead")
        order = "asc" if req.order == pb.LogOrder.LOG_ORDER_ASCENDING else "desc"
        entries, token = await call(
            self.fleet.logs.query,
            _required(req.id, "id"),
            filter=req.filter,
            levels=[level for level in req.levels if level]
            or (list(ERROR_LEVELS) if req.errors_only else None),
            start=_time(req, "start"),
            end=_time(req, "end"),
            order=order,
            limit=req.limit if req.limit > 0 else LOG_PAGE,
            page_token=req.page_token,
        )
        return pb.GetRobotPartLogsResponse(logs=[cv.log_entry(e) for e in entries], next_page_token=token)

    async def TailRobotPartLogs(self, stream: Stream[Any, Any]) -> None:
        """Batches of new entries as they are written; never an empty batch (it would end the
        client's iteration). The stream lasts until the client closes it."""
        request = await stream.recv_message()
        assert request is not None
        async with _errors():
            call = Call(self.fleet, bearer(stream))
            tail = await open_tail(
                call, _required(request.id, "id"), errors_only=request.errors_only, filter=request.filter
            )
        try:
            async for batch in tail:
                await stream.send_message(
                    pb.TailRobotPartLogsResponse(logs=[self._log_proto(e) for e in batch])
                )
        except SubscriberTooSlow:
            raise GRPCError(
                Status.RESOURCE_EXHAUSTED,
                "this tail fell too far behind the log and was closed; open a new one",
            ) from None
        except errors.CoreError as exc:  # the caller may no longer read the log
            raise grpc_error(exc) from None
        finally:
            tail.close()

    # --- fragments --------------------------------------------------------------------------

    @unary
    async def ListFragments(self, call: Call, req: pb.ListFragmentsRequest) -> pb.ListFragmentsResponse:
        # Viam: the visibilities asked for; without any, show_public (the default) lists only
        # public fragments and show_public=False only private ones
        visibilities = [
            cv.FRAGMENT_VISIBILITY[v] for v in req.fragment_visibility if v in cv.FRAGMENT_VISIBILITY
        ] or ["public" if req.show_public else "private"]
        found = await call(
            self.fleet.fragments.list,
            _required(req.organization_id, "organization_id"),
            show_public="public" in visibilities,
            visibilities=visibilities,
        )
        return pb.ListFragmentsResponse(fragments=[cv.fragment(f) for f in found])

    @unary
    async def GetFragment(self, call: Call, req: pb.GetFragmentRequest) -> pb.GetFragmentResponse:
        if req.HasField("version") and req.version:
            raise errors.Invalid("fragment versions are not kept: ask for the fragment without a version")
        return pb.GetFragmentResponse(
            fragment=cv.fragment(await call(self.fleet.fragments.get, _required(req.id, "id")))
        )

    @unary
    async def CreateFragment(self, call: Call, req: pb.CreateFragmentRequest) -> pb.CreateFragmentResponse:
        made = await call(
            self.fleet.fragments.create,
            _required(req.organization_id, "organization_id"),
            req.name,
            cv.from_struct(req.config) if req.HasField("config") else None,
        )
        return pb.CreateFragmentResponse(fragment=cv.fragment(made))

    @unary
    async def UpdateFragment(self, call: Call, req: pb.UpdateFragmentRequest) -> pb.UpdateFragmentResponse:
        visibility = None
        if req.HasField("visibility") and req.visibility in cv.FRAGMENT_VISIBILITY:
            visibility = cv.FRAGMENT_VISIBILITY[req.visibility]
        elif req.HasField("public"):
            visibility = "public" if req.public else "private"
        updated = await call(
            self.fleet.fragments.update,
            _required(req.id, "id"),
            name=req.name,
            config=cv.from_struct(req.config) if req.HasField("config") else None,
            visibility=visibility,
            unchanged_since=_time(req, "last_known_update"),
        )
        return pb.UpdateFragmentResponse(fragment=cv.fragment(updated))

    @unary
    async def DeleteFragment(self, call: Call, req: pb.DeleteFragmentRequest) -> pb.DeleteFragmentResponse:
        await call(self.fleet.fragments.delete, _required(req.id, "id"))
        return pb.DeleteFragmentResponse()

    @unary
    async def GetFragmentHistory(
        self, call: Call, req: pb.GetFragmentHistoryRequest
    ) -> pb.GetFragmentHistoryResponse:
        fragment_id = _required(req.id, "id")

        def history(p: Principal) -> tuple[list[pb.FragmentHistoryEntry], str]:
            current = self.fleet.fragments.get(p, fragment_id)
            revisions, token = self.fleet.fragments.history(
                p, fragment_id, page_token=req.page_token, page_limit=req.page_limit
            )
            return [cv.fragment_history_entry(current, r) for r in revisions], token

        entries, token = await call(history)
        return pb.GetFragmentHistoryResponse(history=entries, next_page_token=token)

    # --- registry and modules ---------------------------------------------------------------

    @unary
    async def GetRegistryItem(self, call: Call, req: pb.GetRegistryItemRequest) -> pb.GetRegistryItemResponse:
        item = await call(self.fleet.registry.get_item, _required(req.item_id, "item_id"))
        return pb.GetRegistryItemResponse(item=cv.registry_item(item))

    @unary
    async def CreateRegistryItem(
        self, call: Call, req: pb.CreateRegistryItemRequest
    ) -> pb.CreateRegistryItemResponse:
        await call(
            self.fleet.registry.create_item,
            _required(req.organization_id, "organization_id"),
            req.name,
            cv.package_type(req.type),
        )
        return pb.CreateRegistryItemResponse()

    @unary
    async def UpdateRegistryItem(
        self, call: Call, req: pb.UpdateRegistryItemRequest
    ) -> pb.UpdateRegistryItemResponse:
        await call(
            self.fleet.registry.update_item,
            _required(req.item_id, "item_id"),
            type=cv.package_type(req.type),
            description=req.description,
            visibility=cv.visibility(req.visibility),
        )
        return pb.UpdateRegistryItemResponse()

    @unary
    async def ListRegistryItems(
        self, call: Call, req: pb.ListRegistryItemsRequest
    ) -> pb.ListRegistryItemsResponse:
        types = [cv.package_type(t) for t in req.types if t]
        visibilities = [cv.visibility(v) for v in req.visibilities if v]
        platforms = [platform for platform in req.platforms if platform]
        statuses = [cv.STATUS[s] for s in req.statuses if s in cv.STATUS]

        def every(p: Principal) -> list[Any]:
            """Viam's answer has no next page: every match from the given page on."""
            items: list[Any] = []
            token = req.page_token
            while True:
                page, token = self.fleet.registry.list_items(
                    p,
                    req.organization_id or None,
                    types=types,
                    visibilities=visibilities,
                    platforms=platforms,
                    statuses=statuses,
                    search_term=req.search_term,
                    page_token=token,
                    page_size=REGISTRY_PAGE,
                )
                items += page
                if not token:
                    return items

        items = await call(every)
        return pb.ListRegistryItemsResponse(items=[cv.registry_item(i) for i in items])

    @unary
    async def DeleteRegistryItem(
        self, call: Call, req: pb.DeleteRegistryItemRequest
    ) -> pb.DeleteRegistryItemResponse:
        await call(self.fleet.registry.delete_item, _required(req.item_id, "item_id"))
        return pb.DeleteRegistryItemResponse()

    @unary
    async def CreateModule(self, call: Call, req: pb.CreateModuleRequest) -> pb.CreateModuleResponse:
        module_id, url = await call(
            self.fleet.registry.create_module, _required(req.organization_id, "organization_id"), req.name
        )
        return pb.CreateModuleResponse(module_id=module_id, url=url)

    @unary
    async def UpdateModule(self, call: Call, req: pb.UpdateModuleRequest) -> pb.UpdateModuleResponse:
        url = await call(
            self.fleet.registry.update_module,
            _required(req.module_id, "module_id"),
            url=req.url,
            description=req.description,
            models=[{"api": m.api, "model": m.model} for m in req.models],
            entrypoint=req.entrypoint,
            visibility=cv.visibility(req.visibility),
        )
        return pb.UpdateModuleResponse(url=url)

    async def UploadModuleFile(self, stream: Stream[Any, Any]) -> None:
        """Client stream: the file's description first, then its content (in one or more messages)."""
        async with _errors():
            call = Call(self.fleet, bearer(stream))
            first = await stream.recv_message()
            if first is None or not first.HasField("module_file_info"):
                raise errors.Invalid("the first message must carry module_file_info")
            info = first.module_file_info
            module_id = _required(info.module_id, "module_file_info.module_id")
            await call(
                self.fleet.registry.check_upload, module_id, version=info.version, platform=info.platform
            )
            chunks = [first.file] if first.file else []
            async for message in stream:
                chunks.append(message.file)
            url = await call(
                self.fleet.registry.upload_module_file,
                module_id,
                version=info.version,
                platform=info.platform,
                content=b"".join(chunks),
            )
        await stream.send_message(pb.UploadModuleFileResponse(url=url))

    @unary
    async def GetModule(self, call: Call, req: pb.GetModuleRequest) -> pb.GetModuleResponse:
        module = await call(self.fleet.registry.get_module, _required(req.module_id, "module_id"))
        return pb.GetModuleResponse(module=cv.module(module))

    @unary
    async def ListModules(self, call: Call, req: pb.ListModulesRequest) -> pb.ListModulesResponse:
        modules = await call(self.fleet.registry.list_modules, req.organization_id or None)
        return pb.ListModulesResponse(modules=[cv.module(m) for m in modules])


PAGE = 500
REGISTRY_PAGE = 500  # registry items read per page while listing them all
LOG_PAGE = 100  # entries per GetRobotPartLogs page unless the request sets a limit
LOG_PROTO_CACHE = 20_000  # recent entries kept converted for the tails


def _all_pages(p: Principal, lister: Callable[[Principal, int, str | None], Any]) -> list[Any]:
    """Every item of a paginated core listing (Viam's listings are not paginated)."""
    items: list[Any] = []
    cursor = None
    while True:
        page = lister(p, PAGE, cursor)
        items += page.items
        if not page.next_cursor:
            return items
        cursor = page.next_cursor
