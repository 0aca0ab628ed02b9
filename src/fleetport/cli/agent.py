"""``fleetport agent``: run the agent of one part on the robot (see :mod:`fleetport.agent`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from fleetport.agent.addons import target_option
from fleetport.agent.main import AgentOptions, read_enrolment, run

MAX_BUFFER_MB = 1 << 20  # a terabyte
MIN_BUFFER_BYTES = 10 << 10  # room for a log batch or a points write of some size


def agent(
    server: Annotated[
        str | None, typer.Option("--server", help="The server's address: https://fleet.example.com")
    ] = None,
    part: Annotated[str | None, typer.Option("--part", help="The part's id")] = None,
    secret: Annotated[
        str | None,
        typer.Option("--secret", envvar="FLEETPORT_AGENT_SECRET", help="One of the part's secrets"),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A JSON or TOML file with server, part_id and secret (fleetport parts agent-config)",
        ),
    ] = None,
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Where the agent keeps its outbox and state")
    ] = Path("fleetport-agent"),
    part_config: Annotated[
        Path | None, typer.Option("--part-config", help="Where the part's config is written [state dir]")
    ] = None,
    reload_command: Annotated[
        str | None, typer.Option("--reload-command", help="Run (by the shell) after each config change")
    ] = None,
    log_file: Annotated[
        list[Path] | None,
        typer.Option("--log-file", help="Ship this file's new lines as the part's logs (repeat)"),
    ] = None,
    telemetry_port: Annotated[
        int, typer.Option("--telemetry-port", help="Loopback port taking dataport points; 0 turns it off")
    ] = 4444,
    allow_target: Annotated[
        list[str] | None,
        typer.Option("--allow-target", help="host or host:port streams may reach besides loopback (repeat)"),
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="CA certificate(s) to trust for an https:// server")
    ] = None,
    camera_device: Annotated[
        str | None,
        typer.Option(
            "--camera-device", help="The cam add-on's camera, number or path (OpenCV) [test pattern]"
        ),
    ] = None,
    drive_command: Annotated[
        str | None,
        typer.Option("--drive-command", help="Run once (by the shell); drive commands go to its stdin"),
    ] = None,
    workspace_runtime: Annotated[
        str | None,
        typer.Option(
            "--workspace-runtime",
            help="docker or podman (a name or path): each SSH workspace is a container of --workspace-image",
        ),
    ] = None,
    workspace_image: Annotated[
        str | None,
        typer.Option("--workspace-image", help="The workspace containers' image (pull it first)"),
    ] = None,
    workspace_run_option: Annotated[
        list[str] | None,
        typer.Option(
            "--workspace-run-option",
            help="An argument added to '<runtime> run' of each workspace container (repeat)",
        ),
    ] = None,
    mistyproxy_target: Annotated[
        str | None,
        typer.Option(
            "--mistyproxy-target",
            help="HOST[:PORT] the mistyproxy add-on relays to [deployment's config; port 80]",
        ),
    ] = None,
    vnc_target: Annotated[
        str | None,
        typer.Option(
            "--vnc-target", help="HOST[:PORT] of the robot's VNC server, for the vnc add-on [port 5900]"
        ),
    ] = None,
    allow_file_repos: Annotated[
        bool,
        typer.Option("--allow-file-repos", help="CI jobs may clone file:// repositories (local ones)"),
    ] = False,
    buffer_max_mb: Annotated[
        float,
        typer.Option(
            "--buffer-max-mb",
            help="Logs and points kept while the server is unreachable, at most (MB; oldest logs "
            "go first, then oldest points; 0: no cap)",
        ),
    ] = 100.0,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Run the agent of a part on this computer: one connection to the server, config sync, logs,
    telemetry, streams, workspaces and CI jobs."""
    if config is not None:
        try:
            enrolment = read_enrolment(config)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--config") from None
        server = server or enrolment["server"]
        part = part or enrolment["part_id"]
        secret = secret or enrolment["secret"]
    if not server or not part or not secret:
        raise typer.BadParameter(
            "give --server, --part and --secret, or --config FILE", param_hint="--config"
        )
    if not (math.isfinite(buffer_max_mb) and 0 <= buffer_max_mb <= MAX_BUFFER_MB):
        raise typer.BadParameter(
            f"the buffer is 0 (no cap) to {MAX_BUFFER_MB} MB", param_hint="--buffer-max-mb"
        )
    if 0 < buffer_max_mb * (1 << 20) < MIN_BUFFER_BYTES:
        raise typer.BadParameter(
            f"the buffer holds at least {MIN_BUFFER_BYTES >> 10} KB (0.01 MB)", param_hint="--buffer-max-mb"
        )
    if not 0 <= telemetry_port < 65536:
        raise typer.BadParameter("a port is 1 to 65535 (0: off)", param_hint="--telemetry-port")
    _check_workspace_runtime(workspace_runtime, workspace_image, workspace_run_option)
    targets: dict[str, str | None] = {}
    for addon, given in (("mistyproxy", mistyproxy_target), ("vnc", vnc_target)):
        try:
            targets[addon] = None if given is None else target_option(addon, given)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=f"--{addon}-target") from None
    options = AgentOptions(
        server=server,
        part_id=part,
        secret=secret,
        state_dir=state_dir,
        part_config=part_config,
        reload_command=reload_command,
        log_files=list(log_file or []),
        telemetry_port=telemetry_port,
        allow_targets=list(allow_target or []),
        ca_file=ca_file,
        camera_device=camera_device,
        drive_command=drive_command,
        workspace_runtime=workspace_runtime,
        workspace_image=workspace_image,
        workspace_run_options=list(workspace_run_option or []),
        mistyproxy_target=targets["mistyproxy"],
        vnc_target=targets["vnc"],
        allow_file_repos=allow_file_repos,
        buffer_max_bytes=int(buffer_max_mb * (1 << 20)) or None,
    )
    run(options, log_level)


def _check_workspace_runtime(runtime: str | None, image: str | None, run_options: list[str] | None) -> None:
    if runtime is None and image is None:
        if run_options:
            raise typer.BadParameter("needs --workspace-runtime", param_hint="--workspace-run-option")
        return
    if not runtime or not runtime.strip():
        raise typer.BadParameter("name docker or podman (and an image)", param_hint="--workspace-runtime")
    if not image or not image.strip():
        raise typer.BadParameter("name the workspaces' image", param_hint="--workspace-image")
    if image.startswith("-"):
        raise typer.BadParameter("an image name does not start with '-'", param_hint="--workspace-image")
