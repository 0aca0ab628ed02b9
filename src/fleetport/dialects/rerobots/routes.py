"""Every call of the ``rerobots`` 0.11 APIClient, each answered by one core call."""

from __future__ import annotations

import asyncio
import base64
from concurrent.futures import Future
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fleetport.core.calls import Call
from fleetport.core.errors import Busy, Unavailable
from fleetport.core.fleet import Fleet
from fleetport.dialects.rerobots import wire
from fleetport.dialects.rerobots.wire import Handler, WireError, answer, body

PREFIX = "/rerobots"
SETTLE_SECONDS = 10.0
DONE: dict[str, Any] = {}


def _path(request: Request, name: str) -> str:
    return str(request.path_params[name])


async def settled(future: Future[None], what: str) -> None:
    """Waits for the robot's side of a core call (ports opened or closed on the hub's loop)."""
    try:
        await asyncio.wait_for(asyncio.wrap_future(future), SETTLE_SECONDS)
    except TimeoutError:
        raise Unavailable(f"{what} took over {SETTLE_SECONDS:g} s") from None


def routes(fleet: Fleet) -> list[Route]:
    remote = fleet.remote
    deployments, instances, addons = remote.deployments, remote.instances, remote.addons

    # --- deployments and rules ------------------------------------------------------------------

    async def workspaces(request: Request, call: Call) -> Response:
        return answer({"workspace_types": await call(deployments.types)})

    async def search(request: Request, call: Call) -> Response:
        page, per_page = wire.paging(request)
        maxlen_text = request.query_params.get("maxlen", "u")
        maxlen = None if maxlen_text in ("", "u") else wire.whole(request, "maxlen")
        wanted = [x for x in request.query_params.get("types", "").split(",") if x]
        found = await call(
            deployments.search,
            page,
            text=request.query_params.get("q") or None,
            types=[x for x in wanted if not x.startswith("!")],
            not_types=[x[1:] for x in wanted if x.startswith("!")],
            maxlen=maxlen,
            clamp=True,
        )
        items = found.page.items
        shown: dict[str, Any] = {"workspace_deployments": [d.id for d in items]}
        if request.query_params.get("info") is not None:
            shown["info"] = {d.id: wire.deployment(d) for d in items}
        shown["page_count"] = wire.page_count(found.total, per_page)
        return answer(shown)

    async def one_deployment(request: Request, call: Call) -> Response:
        return answer(wire.deployment(await call(deployments.get, _path(request, "wdid"))))

    async def rules(request: Request, call: Call) -> Response:
        wdid = request.path_params.get("wdid")
        found = await call(deployments.rules, wdid, request.query_params.get("to_user"))
        return answer({"rules": [wire.rule(r) for r in found]})

    async def add_rule(request: Request, call: Call) -> Response:
        given = await body(request)
        cap, user = given.get("cap"), given.get("user")
        if not isinstance(cap, str) or not (user is None or isinstance(user, str)):
            raise WireError(400, 'send {"cap": "CAP_INSTANTIATE" or "CAP_NO_INSTANTIATE", "user": <user>}')
        made = await call(deployments.add_rule, _path(request, "wdid"), cap, user)
        return answer({"rule_id": made.id})

    async def delete_rule(request: Request, call: Call) -> Response:
        await call(deployments.delete_rule, _path(request, "wdid"), _path(request, "rule_id"))
        return answer(DONE)

    async def lockout(request: Request, call: Call) -> Response:
        locked = request.method == "POST"
        await call(deployments.update, _path(request, "wdid"), locked_out=locked)
        return answer(DONE)

    # --- instances ------------------------------------------------------------------------------

    async def list_instances(request: Request, call: Call) -> Response:
        page, per_page = wire.paging(request)
        ended = "include_terminated" in request.query_params
        found = await call(instances.list, page, include_ended=ended, clamp=True)
        return answer(
            {
                "workspace_instances": [i.id for i in found.page.items],
                "workspace_deployments": [i.deployment_id for i in found.page.items],
                "page_count": wire.page_count(found.total, per_page),
            }
        )

    async def one_instance(request: Request, call: Call) -> Response:
        return answer(wire.instance(await call(instances.get, _path(request, "iid"))))

    async def new(request: Request, call: Call) -> Response:
        given = await body(request)
        launch = await call(
            instances.launch,
            _path(request, "target"),
            public_key=given.get("sshkey"),
            expire_seconds=given.get("expire_d"),
            reserve=given.get("reserve", False),
            event_url=given.get("eurl"),
            vpn=given.get("vpn", False),
        )
        made = launch.instance or launch.reservation
        assert made is not None
        shown: dict[str, Any] = {"success": launch.instance is not None, "id": made.id}
        if launch.reservation is not None:
            shown["result_message"] = "the deployment is busy: a reservation was made"
        if launch.private_key is not None:
            shown["sshkey"] = launch.private_key
        return answer(shown)

    async def terminate(request: Request, call: Call) -> Response:
        try:
            await call(instances.terminate, _path(request, "iid"))
        except Busy as exc:
            return wire.error(503, f"{wire.INSTANCE_BUSY} {exc.message}")
        return answer(DONE)

    async def reservations(request: Request, call: Call) -> Response:
        found = await call(remote.reservations.list)
        return answer({"reservations": [wire.reservation(r) for r in found]})

    async def cancel(request: Request, call: Call) -> Response:
        await call(remote.reservations.cancel, _path(request, "rid"))
        return answer(DONE)

    # --- firewall, VPN, add-ons -----------------------------------------------------------------

    async def firewall(request: Request, call: Call) -> Response:
        iid = _path(request, "iid")
        if request.method == "DELETE":
            await call(instances.flush_firewall, iid)
            return answer(DONE)
        if request.method == "POST":
            given = await body(request)
            source = given.get("src")
            if "src" not in given and request.client is not None:
                source = request.client.host  # the requester's own address
            await call(instances.add_firewall_rule, iid, given.get("action", "ACCEPT"), source)
            return answer(DONE)
        found = await call(instances.firewall, iid)
        rules = [{"source": r.source, "action": r.action} for r in found or []]
        return answer({"rules": rules, "default": "ACCEPT" if found is None else "DROP"})

    async def vpn(request: Request, call: Call) -> Response:
        await call(addons.vpn_client, _path(request, "iid"))
        return answer(DONE)  # (not reached: VPN is not offered)

    async def addon(request: Request, call: Call) -> Response:
        name, iid = _path(request, "addon"), _path(request, "iid")
        if request.method == "POST":
            await call(addons.activate, iid, name)
            return answer(DONE)
        if request.method == "DELETE":
            await settled(await call(addons.deactivate, iid, name), f"closing the {name} ports")
            return answer(DONE)
        status = await call(addons.status, iid, name)
        if status is None:
            return wire.error(404, f"the {name} add-on is not active on instance {iid}")
        return answer(wire.addon(status))

    async def vnc_start(request: Request, call: Call) -> Response:
        await settled(await call(addons.start, _path(request, "iid"), "vnc"), "opening the VNC port")
        return answer(DONE)

    async def vnc_stop(request: Request, call: Call) -> Response:
        await settled(await call(addons.stop, _path(request, "iid"), "vnc"), "closing the VNC port")
        return answer(DONE)

    async def snapshot(request: Request, call: Call) -> Response:
        taking = await call(addons.snapshot, _path(request, "iid"), _path(request, "camera"))
        image = await asyncio.wrap_future(taking)
        data = base64.b64encode(image).decode()
        return answer({"success": True, "format": "JPEG", "coding": "base64", "data": data})

    async def drive(request: Request, call: Call) -> Response:
        command = await body(request)
        await call(addons.drive, _path(request, "iid"), command)
        return answer(DONE)

    # --- tokens and CI --------------------------------------------------------------------------

    async def revoke(request: Request, call: Call) -> Response:
        await call(fleet.identity.revoke, _path(request, "sha256"))
        return answer(DONE)

    async def purge(request: Request, call: Call) -> Response:
        await call(fleet.identity.purge)
        return answer(DONE)

    async def ci_projects(request: Request, call: Call) -> Response:
        found = await call(remote.ci.list)
        return answer({p.id: {"repo_url": p.repo_url} for p in found})

    async def ci_new(request: Request, call: Call) -> Response:
        given = await body(request)
        repo_url = given.get("repo_url")
        if not isinstance(repo_url, str):
            raise WireError(400, 'send {"repo_url": "<URL of the repository>"}')
        made = await call(remote.ci.create, repo_url)
        return answer({"pid": made.id})

    async def ci_job(request: Request, call: Call) -> Response:
        given = await body(request)
        branch, ref = given.get("branch"), given.get("commit")
        if not isinstance(branch, str) or not (ref is None or isinstance(ref, str)):
            raise WireError(400, 'send {"branch": "<branch>", "commit": "<commit id or ref>"}')
        made = await call(remote.ci_jobs.submit, _path(request, "pid"), branch, ref or "")
        return answer({"jid": made.id})

    table: list[tuple[str, Handler, list[str]]] = [
        ("/workspaces", workspaces, ["GET"]),
        ("/deployments", search, ["GET"]),
        ("/deployment/{wdid}", one_deployment, ["GET"]),
        ("/rules", rules, ["GET"]),
        ("/deployment/{wdid}/rules", rules, ["GET"]),
        ("/deployment/{wdid}/rule", add_rule, ["POST"]),
        ("/deployment/{wdid}/rule/{rule_id}", delete_rule, ["DELETE"]),
        ("/deployment/{wdid}/lockout", lockout, ["POST", "DELETE"]),
        ("/instances", list_instances, ["GET"]),
        ("/instance/{iid}", one_instance, ["GET"]),
        ("/new/{target}", new, ["POST"]),
        ("/terminate/{iid}", terminate, ["POST"]),
        ("/reservations", reservations, ["GET"]),
        ("/reservation/{rid}", cancel, ["DELETE"]),
        ("/firewall/{iid}", firewall, ["GET", "POST", "DELETE"]),
        ("/vpn/{iid}", vpn, ["POST", "GET"]),
        ("/addon/cam/{iid}/{camera}/img", snapshot, ["GET"]),
        ("/addon/drive/{iid}/tx", drive, ["POST"]),
        ("/addon/vnc/{iid}/start", vnc_start, ["POST"]),
        ("/addon/vnc/{iid}/stop", vnc_stop, ["POST"]),
        ("/addon/{addon}/{iid}", addon, ["GET", "POST", "DELETE"]),
        ("/revoke/{sha256}", revoke, ["POST"]),
        ("/purge", purge, ["POST"]),
        ("/ci/projects", ci_projects, ["GET"]),
        ("/ci/new", ci_new, ["POST"]),
        ("/ci/project/{pid}/job", ci_job, ["POST"]),
    ]
    return [
        Route(PREFIX + path, wire.endpoint(fleet, handler), methods=methods)
        for path, handler, methods in table
    ]
