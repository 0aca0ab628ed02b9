"""Robots and their parts: config, history, secrets, restarts."""

from __future__ import annotations

import json
from typing import Any

from viam.proto import app as pb

from fleetport.core import errors
from fleetport.core.calls import Call
from fleetport.dialects.viam import convert as cv
from fleetport.dialects.viam.rpc import Area, request_time, required, unary


class RobotRpcs(Area):
    @unary
    async def GetRobot(self, call: Call, req: pb.GetRobotRequest) -> pb.GetRobotResponse:
        found = await call(self.fleet.machines.summary, required(req.id, "id"))
        return pb.GetRobotResponse(robot=cv.robot(found.machine, found.last_access))

    @unary
    async def GetRoverRentalRobots(
        self, call: Call, req: pb.GetRoverRentalRobotsRequest
    ) -> pb.GetRoverRentalRobotsResponse:
        found = await call(self.fleet.machines.rentals, required(req.org_id, "org_id"))
        return pb.GetRoverRentalRobotsResponse(
            robots=[
                pb.RoverRentalRobot(
                    robot_id=s.machine.id,
                    location_id=s.machine.location_id,
                    robot_name=s.machine.name,
                    robot_main_part_id=s.main_part_id or "",
                )
                for s in found
            ]
        )

    @unary
    async def GetRobotParts(self, call: Call, req: pb.GetRobotPartsRequest) -> pb.GetRobotPartsResponse:
        found = await call(self.fleet.machines.parts_details, required(req.robot_id, "robot_id"))
        return pb.GetRobotPartsResponse(parts=[cv.robot_part(*details) for details in found])

    @unary
    async def GetRobotPart(self, call: Call, req: pb.GetRobotPartRequest) -> pb.GetRobotPartResponse:
        part = cv.robot_part(*await call(self.fleet.machines.part_details, required(req.id, "id")))
        return pb.GetRobotPartResponse(part=part, config_json=part.robot_config_json)

    @unary
    async def GetRobotPartHistory(
        self, call: Call, req: pb.GetRobotPartHistoryRequest
    ) -> pb.GetRobotPartHistoryResponse:
        part, machine, revisions = await call(
            self.fleet.machines.part_history,
            required(req.id, "id"),
            start=request_time(req, "start"),
            end=request_time(req, "end"),
            limit=req.page_limit if req.page_limit > 0 else None,
        )
        history = [
            pb.RobotPartHistoryEntry(
                part=part.id,
                robot=machine.id,
                when=cv.ts(rev.edited_at),
                old=cv.robot_part(part, machine, [], config=rev.previous_config),
                edited_by=cv.authenticator(rev.edited_by),
            )
            for rev in revisions
        ]
        return pb.GetRobotPartHistoryResponse(history=history)

    @unary
    async def UpdateRobotPart(self, call: Call, req: pb.UpdateRobotPartRequest) -> pb.UpdateRobotPartResponse:
        details = await call(
            self.fleet.machines.edit_part,
            required(req.id, "id"),
            name=req.name,  # an empty name is refused
            config=_part_config(req),
            unchanged_since=request_time(req, "last_known_update"),  # a stale edit changes nothing
        )
        return pb.UpdateRobotPartResponse(part=cv.robot_part(*details))

    @unary
    async def NewRobotPart(self, call: Call, req: pb.NewRobotPartRequest) -> pb.NewRobotPartResponse:
        part = await call(self.fleet.machines.create_part, required(req.robot_id, "robot_id"), req.part_name)
        return pb.NewRobotPartResponse(part_id=part.id)

    @unary
    async def DeleteRobotPart(self, call: Call, req: pb.DeleteRobotPartRequest) -> pb.DeleteRobotPartResponse:
        await call(self.fleet.machines.delete_part, required(req.part_id, "part_id"))
        return pb.DeleteRobotPartResponse()

    @unary
    async def GetRobotAPIKeys(self, call: Call, req: pb.GetRobotAPIKeysRequest) -> pb.GetRobotAPIKeysResponse:
        keys = await call(self.fleet.identity.keys_for_robot, required(req.robot_id, "robot_id"))
        return pb.GetRobotAPIKeysResponse(api_keys=[cv.api_key_with_authorizations(k) for k in keys])

    @unary
    async def MarkPartAsMain(self, call: Call, req: pb.MarkPartAsMainRequest) -> pb.MarkPartAsMainResponse:
        await call(self.fleet.machines.update_part, required(req.part_id, "part_id"), main_part=True)
        return pb.MarkPartAsMainResponse()

    @unary
    async def MarkPartForRestart(
        self, call: Call, req: pb.MarkPartForRestartRequest
    ) -> pb.MarkPartForRestartResponse:
        await call(self.fleet.machines.mark_restart, required(req.part_id, "part_id"))
        return pb.MarkPartForRestartResponse()

    @unary
    async def CreateRobotPartSecret(
        self, call: Call, req: pb.CreateRobotPartSecretRequest
    ) -> pb.CreateRobotPartSecretResponse:
        details = await call(self.fleet.machines.add_secret, required(req.part_id, "part_id"))
        return pb.CreateRobotPartSecretResponse(part=cv.robot_part(*details))

    @unary
    async def DeleteRobotPartSecret(
        self, call: Call, req: pb.DeleteRobotPartSecretRequest
    ) -> pb.DeleteRobotPartSecretResponse:
        await call(
            self.fleet.machines.delete_secret,
            required(req.part_id, "part_id"),
            required(req.secret_id, "secret_id"),
        )
        return pb.DeleteRobotPartSecretResponse()

    @unary
    async def ListRobots(self, call: Call, req: pb.ListRobotsRequest) -> pb.ListRobotsResponse:
        found = await call(
            self.fleet.machines.summaries, location_id=required(req.location_id, "location_id")
        )
        return pb.ListRobotsResponse(robots=[cv.robot(s.machine, s.last_access) for s in found])

    @unary
    async def NewRobot(self, call: Call, req: pb.NewRobotRequest) -> pb.NewRobotResponse:
        machine = await call(self.fleet.machines.create, required(req.location, "location"), req.name)
        return pb.NewRobotResponse(id=machine.id)

    @unary
    async def UpdateRobot(self, call: Call, req: pb.UpdateRobotRequest) -> pb.UpdateRobotResponse:
        found = await call(
            self.fleet.machines.edit,
            required(req.id, "id"),
            name=req.name,  # an empty name is refused
            location_id=req.location or None,  # "" keeps the location
        )
        return pb.UpdateRobotResponse(robot=cv.robot(found.machine, found.last_access))

    @unary
    async def DeleteRobot(self, call: Call, req: pb.DeleteRobotRequest) -> pb.DeleteRobotResponse:
        await call(self.fleet.machines.delete, required(req.id, "id"))
        return pb.DeleteRobotResponse()


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
