"""The ``fleetport`` command: run a server, and manage a fleet through the native API.

Client commands talk to a server with the SDK (``fleetport.Client``); ``--url`` and ``--api-key``
default to ``FLEETPORT_URL`` and ``FLEETPORT_API_KEY``. Listings print tables, single objects a
field/value table; ``--json`` prints the API's JSON instead.

One module per command group; :mod:`fleetport.cli.output` prints, :mod:`fleetport.cli.options`
parses what users type, and :mod:`fleetport.cli.root` holds the connection. Only ``serve`` loads
the server (the ``server`` extra).
"""

from fleetport.cli import (
    agent,
    ci,
    dataports,
    fragments,
    keys,
    locations,
    machines,
    orgs,
    parts,
    registry,
    remote,
    ssh,
    telemetry,
    users,
)
from fleetport.cli.output import report
from fleetport.cli.root import app, version, whoami
from fleetport.cli.serve import serve
from fleetport.client.errors import FleetportError

app.command()(serve)
app.command()(agent.agent)
app.command()(version)
app.command()(whoami)
app.command("ssh")(ssh.ssh_machine)
app.add_typer(users.app, name="users")
app.add_typer(orgs.app, name="orgs")
app.add_typer(locations.app, name="locations")
app.add_typer(machines.app, name="machines")
app.add_typer(parts.app, name="parts")
app.add_typer(keys.app, name="keys")
app.add_typer(fragments.app, name="fragments")
app.add_typer(registry.registry_app, name="registry")
app.add_typer(registry.modules_app, name="modules")
app.add_typer(dataports.app, name="dataports")
app.add_typer(telemetry.app, name="telemetry")
app.add_typer(remote.deployments_app, name="deployments")
remote.instances_app.command("ssh")(ssh.ssh_instance)
app.add_typer(remote.instances_app, name="instances")
app.add_typer(ci.app, name="ci")


def main() -> None:
    """Runs the command line; an error from the SDK (a server's answer, an unreachable server) is
    one red line on stderr and exit status 1, never a traceback."""
    try:
        app(prog_name="fleetport")
    except FleetportError as exc:
        report(exc)


__all__ = ["app", "main"]
