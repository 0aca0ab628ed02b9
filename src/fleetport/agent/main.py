"""The agent as one program: its options, and the parts it runs side by side (the control
connection, the log gatherer, the telemetry endpoint, the config file, the streams, workspaces,
add-ons and CI jobs)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import ssl
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetport.agent import addons, relay, sources
from fleetport.agent.ci import CiRunner
from fleetport.agent.link import Link
from fleetport.agent.local import TelemetryEndpoint
from fleetport.agent.outbox import KINDS, Outbox

if TYPE_CHECKING:
    from fleetport.agent.containers import Runner
    from fleetport.agent.workspace import Workspaces

log = logging.getLogger("fleetport.agent")


@dataclass
class AgentOptions:
    server: str
    part_id: str
    secret: str = field(repr=False)
    state_dir: Path = Path("fleetport-agent")
    part_config: Path | None = None  # where the part's config is written (default: in the state dir)
    reload_command: str | None = None
    log_files: list[Path] = field(default_factory=list)
    telemetry_port: int = 4444  # 0: no telemetry endpoint
    allow_targets: list[str] = field(default_factory=list)
    ca_file: Path | None = None
    camera_device: str | None = None  # the cam add-on's camera (default: a generated test pattern)
    drive_command: str | None = None  # the drive add-on's commands go to its stdin, one JSON line each
    workspace_runtime: str | None = None  # docker or podman: each workspace a container (see containers.py)
    workspace_image: str | None = None
    workspace_run_options: list[str] = field(default_factory=list)
    mistyproxy_target: str | None = None  # host:port the mistyproxy add-on relays to
    vnc_target: str | None = None  # host:port of the robot's VNC server, for the vnc add-on
    allow_file_repos: bool = False  # CI jobs may clone file:// repositories (local ones, for tests)
    buffer_max_bytes: int | None = 100 << 20  # what the outbox may hold while offline (None: no cap)

    @property
    def config_path(self) -> Path:
        return self.part_config or self.state_dir / "part-config.json"


def read_enrolment(path: Path) -> dict[str, str]:
    """``server``, ``part_id`` and ``secret`` from a JSON or TOML file (what ``fleetport parts
    agent-config`` prints)."""
    text = path.read_text(encoding="utf-8")
    data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) for k in ("server", "part_id", "secret")
    ):
        raise ValueError(f"{path} needs the text fields server, part_id and secret")
    return {k: data[k] for k in ("server", "part_id", "secret")}


def ws_url(server: str, path: str) -> str:
    base = server.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            return ws + base[len(http) :] + path
    raise ValueError(f"the server's address starts with http:// or https://, not {server!r}")


class Agent:
    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.outbox = Outbox(options.state_dir / "outbox.sqlite", options.buffer_max_bytes)
        self.wake = asyncio.Event()
        self.own_log = sources.OwnLog()
        self.ssl_context = _ssl_context(options)
        self.link = Link(
            ws_url(options.server, "/agent/v1/connect"),
            options.secret,
            self.outbox,
            self.wake,
            self.write_config,
            self.open_stream,
            self.ssl_context,
            on_workspace=self.workspace_asked,
            on_lost=self.workspaces_lost,
            on_addon=self.addon_asked,
            on_job=lambda message: self.ci.start(message),
        )
        self.drive = addons.Drive(options.drive_command)
        self.relayed = addons.RelayTargets(
            {"mistyproxy": options.mistyproxy_target, "vnc": options.vnc_target}, options.allow_targets
        )
        self.workspaces = _workspaces(options)
        self.ci = CiRunner(self.link.report, self._workspace_of, options.allow_file_repos)
        self._streams: set[asyncio.Task[None]] = set()

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.link.connected,
            "part_id": self.options.part_id,
            "waiting": {kind: self.outbox.count(kind) for kind in KINDS},
            "buffer": {"bytes": self.outbox.size, "max_bytes": self.options.buffer_max_bytes},
            "dropped": self.outbox.dropped(),  # log lines and points, not yet reported
        }

    async def run(self) -> None:
        logging.getLogger("fleetport.agent").addHandler(self.own_log)
        if self.workspaces is not None:  # before the server may ask for new ones
            await self.workspaces.wipe_leftovers()
        tasks = [
            asyncio.create_task(self.link.run_forever()),
            asyncio.create_task(sources.gather(self.outbox, self.own_log, self.options.log_files, self.wake)),
            asyncio.create_task(self.report_dropped()),
        ]
        server = None
        if self.options.telemetry_port:
            endpoint = TelemetryEndpoint(self.outbox, self.wake, self.status)
            server = await endpoint.serve(self.options.telemetry_port)
            log.info(
                "telemetry endpoint at http://127.0.0.1:%d/dataports/<alias>/points",
                self.options.telemetry_port,
            )
        log.info("agent of part %s started; state in %s", self.options.part_id, self.options.state_dir)
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await self.workspaces_lost()
            with contextlib.suppress(Exception):
                await self.drive.close()
            if server is not None:
                server.close()
            self.outbox.close()

    async def report_dropped(self) -> None:
        """Once the server is reachable, says in the part's logs what the full buffer dropped."""
        while True:
            await asyncio.sleep(REPORT_SECONDS)
            if not self.link.connected or not any(self.outbox.dropped().values()):
                continue
            dropped = self.outbox.take_dropped()
            cap = f"{(self.options.buffer_max_bytes or 0) / (1 << 20):g} MB, --buffer-max-mb"
            for kind, what in (("logs", "log lines"), ("points", "points")):
                if dropped[kind]:
                    note = "%d %s dropped while offline: the agent's buffer (%s) was full"
                    log.warning(note, dropped[kind], what, cap)

    async def write_config(self, config: dict[str, Any], updated_at: str | None) -> None:
        """Writes the part's config (atomically: a new file renamed over the old one) and runs the
        reload command, unless it is the config written last."""
        path = self.options.config_path
        stamp = json.dumps([updated_at, config], sort_keys=True)
        if path.exists() and self.outbox.get("config-written") == stamp:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(config, out, indent=2, ensure_ascii=False)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self.outbox.put("config-written", stamp)
        log.info("part config written to %s (changed %s)", path, updated_at or "never")
        if self.options.reload_command:
            await self._reload()

    async def _reload(self) -> None:
        command = str(self.options.reload_command)
        process = await asyncio.create_subprocess_shell(
            command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await process.communicate()
        if process.returncode:
            tail = err.decode("utf-8", "replace").strip()[-500:]
            log.warning("reload command %r exited with %d: %s", command, process.returncode, tail)
        else:
            log.info("reload command %r ran", command)

    def open_stream(self, stream_id: str, target: str) -> None:
        task = asyncio.create_task(self._stream(stream_id, target))
        self._streams.add(task)
        task.add_done_callback(self._streams.discard)

    async def _stream(self, stream_id: str, target: str) -> None:
        url = ws_url(self.options.server, f"/agent/v1/streams/{stream_id}")
        try:
            await relay.relay(url, self.options.secret, target, self.relayed.allowed(), self.ssl_context)
        except (relay.TargetRefused, OSError, TimeoutError) as exc:
            log.warning("stream %s to %s not opened: %s", stream_id, target[:100], exc)
            with contextlib.suppress(Exception):
                await self.link.report_stream_failed(stream_id, str(exc))

    def workspace_asked(self, message: dict[str, Any]) -> None:
        """A ``launch`` (``instance``, ``public_key``) or ``destroy`` (``instance``) from the server."""
        task = asyncio.create_task(self._workspace(message))
        self._streams.add(task)
        task.add_done_callback(self._streams.discard)

    async def _workspace(self, message: dict[str, Any]) -> None:
        instance = str(message.get("instance"))[:100]
        if self.workspaces is None:
            if message.get("type") == "launch":
                with contextlib.suppress(Exception):
                    await self.link.report("launch_failed", instance=instance, error=NO_SSH)
            return
        from fleetport.agent.workspace import WorkspaceRefused

        if message.get("type") == "destroy":
            await self.ci.cancel(instance)
            await self.workspaces.destroy(instance)
            with contextlib.suppress(Exception):
                await self.link.report("destroyed", instance=instance)
            return
        try:
            hostkey, port = await self.workspaces.launch(instance, str(message.get("public_key")))
        except (WorkspaceRefused, OSError) as exc:
            log.warning("workspace of instance %s not set up: %s", instance, exc)
            with contextlib.suppress(Exception):
                await self.link.report("launch_failed", instance=instance, error=str(exc)[:500])
            return
        with contextlib.suppress(Exception):
            await self.link.report("launched", instance=instance, hostkey=hostkey, port=port)

    def addon_asked(self, message: dict[str, Any]) -> None:
        """An add-on message from the server; drive commands keep their order (``Drive`` writes
        them one at a time, in the order their tasks start)."""
        task = asyncio.create_task(self._addon(message))
        self._streams.add(task)
        task.add_done_callback(self._streams.discard)

    async def _addon(self, message: dict[str, Any]) -> None:
        kind, instance = message.get("type"), str(message.get("instance"))[:100]
        if kind == "addon_start":
            await self._addon_start(instance, str(message.get("addon"))[:40], message.get("target"))
        elif kind == "addon_stop":
            addon = str(message.get("addon"))[:40]
            self.relayed.stop(instance, addon)
            log.info("%s add-on of instance %s stopped", addon, instance)
        elif kind == "drive" and isinstance(message.get("command"), dict):
            await self.drive.send(message["command"])
        elif kind == "snapshot":
            request = str(message.get("request"))[:100]
            try:
                image = await asyncio.wait_for(
                    asyncio.to_thread(addons.snapshot, self.options.camera_device), SNAPSHOT_SECONDS
                )
            except TimeoutError:
                late = f"the camera gave no image within {SNAPSHOT_SECONDS:g} s"
                await self._snapshot_failed(request, late)
                return
            except (addons.CameraUnavailable, OSError, ValueError) as exc:
                await self._snapshot_failed(request, str(exc))
                return
            with contextlib.suppress(Exception):
                data = base64.b64encode(image).decode()
                await self.link.report("snapshot", request=request, data=data)

    async def _snapshot_failed(self, request: str, error: str) -> None:
        log.warning("camera snapshot not taken: %s", error)
        with contextlib.suppress(Exception):
            await self.link.report("snapshot_failed", request=request, error=error[:500])

    async def _addon_start(self, instance: str, addon: str, target: object) -> None:
        """Confirms the add-on (with the target it relays to), or says why it cannot run it."""
        fields: dict[str, Any] = {}
        if addon not in ("cam", "drive"):
            try:
                fields["target"] = self.relayed.start(instance, addon, target)
            except addons.AddonRefused as exc:
                log.warning("%s add-on of instance %s not started: %s", addon, instance, exc)
                with contextlib.suppress(Exception):
                    await self.link.report(
                        "addon_failed", instance=instance, addon=addon, error=str(exc)[:500]
                    )
                return
        log.info(
            "%s add-on of instance %s started%s",
            addon,
            instance,
            f" for {fields['target']}" if fields else "",
        )
        with contextlib.suppress(Exception):
            await self.link.report("addon_active", instance=instance, addon=addon, **fields)

    async def workspaces_lost(self) -> None:
        """The control connection ended: the server ended every instance it held, so their
        workspaces, add-ons and CI jobs go too."""
        self.relayed.clear()
        await self.ci.cancel_all()
        if self.workspaces is not None:
            await self.workspaces.destroy_all()

    def _workspace_of(self, instance_id: str) -> tuple[Path, Runner] | None:
        """The instance's workspace directory and the runner its commands (and CI lines) run by."""
        if self.workspaces is None:
            return None
        directory = self.workspaces.directory(instance_id)
        return None if directory is None else (directory, self.workspaces.runner)


REPORT_SECONDS = 1.0
SNAPSHOT_SECONDS = 8.0  # a snapshot not taken by then fails (the server waits 10 s)
NO_SSH = "this agent serves no SSH workspaces: install fleetport[agent-ssh] on the robot"


def _workspaces(options: AgentOptions) -> Workspaces | None:
    """The SSH workspaces, when asyncssh (``fleetport[agent-ssh]``) is installed: directories on
    the robot, or containers when a runtime and an image are given."""
    try:
        from fleetport.agent.containers import ContainerRunner
        from fleetport.agent.workspace import Workspaces
    except ImportError:
        if options.workspace_runtime:
            log.warning("container workspaces need asyncssh: install fleetport[agent-ssh] on the robot")
        return None
    if options.workspace_runtime and options.workspace_image:
        runner = ContainerRunner(
            options.workspace_runtime,
            options.workspace_image,
            options.workspace_run_options,
            options.part_id,
        )
        log.info("workspaces are containers of %s (%s)", options.workspace_image, options.workspace_runtime)
        return Workspaces(options.state_dir, runner)
    return Workspaces(options.state_dir)


def _ssl_context(options: AgentOptions) -> ssl.SSLContext | None:
    if not options.server.startswith("https://"):
        return None
    context = ssl.create_default_context()
    if options.ca_file is not None:
        context.load_verify_locations(cafile=str(options.ca_file))
    return context


def run(options: AgentOptions, level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("websockets").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(options))


async def _main(options: AgentOptions) -> None:
    import signal

    agent = Agent(options)
    task = asyncio.create_task(agent.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log.info("agent stopped")
