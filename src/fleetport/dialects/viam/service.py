"""``viam.app.v1.AppService``: each RPC parses its request, makes one core call as the caller named
by the bearer token, and answers in Viam's messages; core errors become gRPC statuses. The RPCs are
grouped by area, one module each; the servicer grpclib serves is composed of them."""

from __future__ import annotations

from viam.proto.app import UnimplementedAppServiceBase

from fleetport.dialects.viam.fragments import FragmentRpcs
from fleetport.dialects.viam.keys import KeyRpcs
from fleetport.dialects.viam.locations import LocationRpcs
from fleetport.dialects.viam.logs import LogRpcs
from fleetport.dialects.viam.organizations import OrganizationRpcs
from fleetport.dialects.viam.registry import RegistryRpcs
from fleetport.dialects.viam.robots import RobotRpcs


class AppService(
    OrganizationRpcs,
    LocationRpcs,
    RobotRpcs,
    KeyRpcs,
    LogRpcs,
    FragmentRpcs,
    RegistryRpcs,
    UnimplementedAppServiceBase,
):
    """Every RPC of the areas above; those none of them answers are UNIMPLEMENTED."""
