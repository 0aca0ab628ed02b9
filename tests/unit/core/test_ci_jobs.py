"""CI jobs in core: submitted as the project's owner, started on a free matching deployment (or
queued, or failed when nothing matches), run through the host once the instance is READY, reported
by the machine's own agent only, ended with their instance, swept, and hostile input refused
before anything is stored or run (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from fleetport.core.credentials import BearerToken
from fleetport.core.errors import FailedPrecondition, Invalid, NotFound
from fleetport.core.fleet import Fleet
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal
from fleetport.core.remote.model import CiRun, Instance
from tests.unit.core.remote_cast import RemoteCast, remote_cast

HOSTKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1i1yWbOVoEXdF4DfbyaFFEY2Oy4mJuP8Md2cUzaAOa"
REPO = "https://example.com/rovers.git"


class Host:
    """A host whose agents are all connected; it records what it is asked."""

    def __init__(self) -> None:
        self.launched: list[str] = []
        self.destroyed: list[str] = []
        self.runs: list[CiRun] = []
        self.away: set[str] = set()

    def launch(self, instance: Instance, machine_id: str) -> None:
        self.launched.append(instance.id)

    def destroy(self, instance: Instance, machine_id: str) -> None:
        self.destroyed.append(instance.id)

    def connected(self, machine_id: str) -> bool:
        return machine_id not in self.away

    def run_job(self, run: CiRun, machine_id: str) -> None:
        self.runs.append(run)


@pytest.fixture
def cast(fleet: Fleet, admin: Principal) -> RemoteCast:
    return remote_cast(fleet, admin)


@pytest.fixture
def host(fleet: Fleet) -> Host:
    made = Host()
    fleet.remote.attach_host(made)
    return made


def agent_of(fleet: Fleet, owner: Principal, machine_id: str) -> Principal:
    part = fleet.machines.parts(owner, machine_id)[0]
    secret = fleet.machines.create_secret(owner, part.id).secret
    return fleet.identity.authenticate(BearerToken(secret))


def settings(fleet: Fleet, **changes: Any) -> None:
    changed = fleet.remote.instances.settings.model_copy(update=changes)
    fleet.remote.instances.settings = fleet.remote.ci_jobs.settings = changed


def ready(fleet: Fleet, agent: Principal, instance_id: str | None) -> None:
    assert instance_id is not None
    fleet.remote.instance_ready(agent, instance_id, HOSTKEY)


def test_a_job_runs_on_a_free_deployment_and_its_instance_ends_with_it(
    fleet: Fleet, cast: RemoteCast, host: Host
) -> None:
    jobs, owner = fleet.remote.ci_jobs, cast.owner
    project = fleet.remote.ci.create(owner, REPO)
    job = jobs.submit(owner, project.id, "main", "a" * 40)
    assert job.status == "running" and job.deployment_id == cast.deployment.id
    assert host.launched == [job.instance_id] and host.runs == []
    instance = fleet.remote.instances.get(owner, str(job.instance_id))
    assert instance.launched_by == owner.id and instance.status == "INIT"
    agent = agent_of(fleet, owner, cast.machine.id)
    ready(fleet, agent, job.instance_id)
    (run,) = host.runs
    assert (run.job_id, run.instance_id, run.repo_url, run.branch, run.ref) == (
        job.id,
        job.instance_id,
        REPO,
        "main",
        "a" * 40,
    )
    assert run.workspace_type == "fixed_misty2" and run.time_limit_seconds == 1800
    jobs.log(agent, job.id, "$ make test\nok \x00\n")
    done = jobs.done(agent, job.id, "passed", 0)
    assert done.status == "passed" and done.exit_code == 0 and done.ended_at is not None
    assert host.destroyed == [job.instance_id]  # terminated: the agent tears it down
    fleet.remote.instance_destroyed(agent, str(job.instance_id))
    shown = jobs.get(owner, job.id)
    assert shown.status == "passed" and shown.log == "$ make test\nok \ufffd\n"
    assert fleet.remote.instances.get(owner, str(job.instance_id)).status == "TERMINATED"
    with pytest.raises(FailedPrecondition, match="passed, not running"):
        jobs.done(agent, job.id, "failed", 1)


def test_a_failing_job_keeps_its_exit_code_and_listings_leave_logs_out(
    fleet: Fleet, cast: RemoteCast, host: Host
) -> None:
    jobs, owner = fleet.remote.ci_jobs, cast.owner
    project = fleet.remote.ci.create(owner, "git@example.com:rovers/drive.git")
    agent = agent_of(fleet, owner, cast.machine.id)
    first = jobs.submit(owner, project.id, "main")
    ready(fleet, agent, first.instance_id)
    jobs.log(agent, first.id, "boom\n")
    failed = jobs.done(agent, first.id, "failed", 3, "'make' exited with 3")
    assert (failed.status, failed.exit_code, failed.reason) == ("failed", 3, "'make' exited with 3")
    fleet.remote.instance_destroyed(agent, str(first.instance_id))
    second = jobs.submit(owner, project.id, "feature/x", "v1.2")
    listed = jobs.list(owner, project.id, PageRequest(1))
    assert [j.id for j in listed.items] == [second.id] and listed.items[0].log is None
    rest = jobs.list(owner, project.id, PageRequest(1, listed.next_cursor))
    assert [j.id for j in rest.items] == [first.id] and rest.next_cursor is None
    for stranger in (cast.operator, cast.other):
        with pytest.raises(NotFound):
            jobs.get(stranger, first.id)
        with pytest.raises(NotFound):
            jobs.list(stranger, project.id, PageRequest())
        with pytest.raises(NotFound):
            jobs.submit(stranger, project.id, "main")


def test_jobs_wait_for_a_busy_deployment_and_fail_when_nothing_matches(
    fleet: Fleet, cast: RemoteCast, host: Host, admin: Principal
) -> None:
    jobs, owner = fleet.remote.ci_jobs, cast.owner
    project = fleet.remote.ci.create(owner, REPO)
    busy = fleet.remote.instances.launch(owner, cast.deployment.id).instance
    assert busy is not None
    waiting = jobs.submit(owner, project.id, "main")
    assert waiting.status == "queued" and waiting.instance_id is None
    fleet.remote.sweep()
    assert jobs.get(owner, waiting.id).status == "queued"
    fleet.remote.instances.terminate(owner, busy.id)  # connected: TERMINATING until the agent confirms
    fleet.remote.instance_destroyed(admin, busy.id)
    assert fleet.remote.sweep() >= 1
    started = jobs.get(owner, waiting.id)
    assert started.status == "running" and started.instance_id in host.launched
    unmatched = jobs.submit(owner, project.id, "main", needs="mars_rover")
    assert unmatched.status == "error"
    assert "no workspace deployment of workspace type mars_rover" in unmatched.reason
    assert unmatched.log is not None and unmatched.reason in unmatched.log
    operator_project = fleet.remote.ci.create(cast.ruled_out, REPO)  # a rule denies them launching
    denied = jobs.submit(cast.ruled_out, operator_project.id, "main")
    assert denied.status == "error" and "may launch instances on" in denied.reason


def test_queued_jobs_give_up_after_the_queue_limit_and_agents_away_keep_them_waiting(
    fleet: Fleet, cast: RemoteCast, host: Host
) -> None:
    jobs, owner = fleet.remote.ci_jobs, cast.owner
    project = fleet.remote.ci.create(owner, REPO)
    host.away.add(cast.machine.id)
    job = jobs.submit(owner, project.id, "main")
    assert job.status == "queued" and host.launched == []
    settings(fleet, ci_queue_seconds=1)
    time.sleep(1.1)
    fleet.remote.sweep()
    ended = jobs.get(owner, job.id)
    assert ended.status == "error" and "within 1 s" in ended.reason


def test_a_job_waits_while_every_forwarding_port_is_held(
    fleet: Fleet, cast: RemoteCast, host: Host, admin: Principal
) -> None:
    jobs, owner = fleet.remote.ci_jobs, cast.owner
    settings(fleet, ports="21500-21500")
    spare = fleet.machines.create(owner, cast.machine.location_id, "spare")
    fleet.remote.deployments.create(owner, spare.id, "fixed_misty2")
    holder = fleet.remote.instances.launch(owner, cast.deployment.id).instance  # holds the one port
    assert holder is not None and holder.port == 21500
    project = fleet.remote.ci.create(owner, REPO)
    waiting = jobs.submit(owner, project.id, "main")  # a free deployment, but no port
    assert waiting.status == "queued" and host.launched == [holder.id]
    fleet.remote.instances.terminate(owner, holder.id)
    fleet.remote.instance_destroyed(admin, holder.id)
    fleet.remote.sweep()
    assert jobs.get(owner, waiting.id).status == "running"


def test_a_job_file_asking_for_another_type_moves_the_job(fleet: Fleet, cast: RemoteCast, host: Host) -> None:
    jobs, owner = fleet.remote.ci_jobs, cast.owner
    project = fleet.remote.ci.create(owner, REPO)
    agent = agent_of(fleet, owner, cast.machine.id)
    job = jobs.submit(owner, project.id, "main")
    ready(fleet, agent, job.instance_id)
    first_instance = job.instance_id
    moved = jobs.needs(agent, job.id, "kobuki")
    assert moved.status == "error" and "no workspace deployment of workspace type kobuki" in moved.reason
    assert first_instance in host.destroyed
    fleet.remote.instance_destroyed(agent, str(first_instance))
    kobuki = fleet.machines.create(owner, cast.machine.location_id, "kobuki")
    deployment = fleet.remote.deployments.create(owner, kobuki.id, "kobuki")
    again = jobs.submit(owner, project.id, "main")
    ready(fleet, agent, again.instance_id)
    moved = jobs.needs(agent, again.id, "kobuki")
    assert moved.status == "running" and moved.deployment_id == deployment.id
    assert moved.workspace_type == "kobuki" and moved.log is not None and "kobuki" in moved.log
    kobuki_agent = agent_of(fleet, owner, kobuki.id)
    with pytest.raises(NotFound):  # another machine's agent does not report for it
        jobs.done(agent, again.id, "passed", 0)
    ready(fleet, kobuki_agent, moved.instance_id)
    assert host.runs[-1].workspace_type == "kobuki"
    refused = jobs.needs(kobuki_agent, again.id, "fixed_misty2")  # submitted state: no second move
    assert refused.status == "error" and "was submitted for workspace type kobuki" in refused.reason


def test_a_job_ends_with_its_instance_and_its_log_is_bounded(
    fleet: Fleet, cast: RemoteCast, host: Host
) -> None:
    jobs, owner = fleet.remote.ci_jobs, cast.owner
    settings(fleet, ci_log_bytes=1024, launch_timeout_seconds=0.01)
    project = fleet.remote.ci.create(owner, REPO)
    lost = jobs.submit(owner, project.id, "main")
    time.sleep(0.05)
    fleet.remote.sweep()  # the agent never answered the launch
    ended = jobs.get(owner, lost.id)
    assert ended.status == "error" and "INIT_FAIL" in ended.reason and "did not answer" in ended.reason
    settings(fleet, launch_timeout_seconds=60)
    agent = agent_of(fleet, owner, cast.machine.id)
    job = jobs.submit(owner, project.id, "main")
    ready(fleet, agent, job.instance_id)
    for _ in range(3):
        jobs.log(agent, job.id, "é" * 500)  # 1000 bytes each
    shown = jobs.get(owner, job.id)
    assert shown.log_truncated and shown.log is not None and shown.log.startswith("é" * 512)
    assert shown.log.count("é") == 512 and shown.log.count("cut here") == 1
    fleet.remote.instance_lost(agent, str(job.instance_id), "the robot's agent disconnected")
    ended = jobs.get(owner, job.id)
    assert ended.status == "error" and "the robot's agent disconnected" in ended.reason
    with pytest.raises(FailedPrecondition):
        jobs.log(agent, job.id, "late")


HOSTILE_SOURCES = [
    ("--upload-pack=touch /tmp/owned", ""),
    ("main", "--output=/tmp/owned"),
    ("ma\x00in", ""),
    ("ma\ud800in", ""),
    ("m" * 100_000, ""),
    ("main", "a" * 100_000),
    ("", ""),
    ("a..b", ""),
    ("main", "HEAD:secret"),
    ("refs/heads/.hidden", ""),
]
HOSTILE_URLS = [
    "--upload-pack=touch /tmp/owned",
    "-uhttps://example.com/x.git",
    "ext::sh -c touch% /tmp/owned",
    "ftp://example.com/x.git",
    "https://example.com/a b.git",
    "https://example.com/\x00.git",
    "https://example.com/\ud800.git",
    "https://example.com/" + "x" * 100_000,
    "ssh://-oProxyCommand=touch /tmp/owned/x",
    "/srv/git/rovers.git",
    "",
]


def test_hostile_input_is_refused_before_anything_is_stored_or_run(
    fleet: Fleet, cast: RemoteCast, host: Host
) -> None:
    project = fleet.remote.ci.create(cast.owner, REPO)
    for branch, ref in HOSTILE_SOURCES:
        with pytest.raises(Invalid):
            fleet.remote.ci_jobs.submit(cast.owner, project.id, branch, ref)
    with pytest.raises(Invalid):
        fleet.remote.ci_jobs.submit(cast.owner, project.id, "main", needs="no such/type")
    assert fleet.remote.ci_jobs.list(cast.owner, project.id, PageRequest()).items == []
    for url in HOSTILE_URLS:
        with pytest.raises(Invalid):
            fleet.remote.ci.create(cast.owner, url)
    assert [p.id for p in fleet.remote.ci.list(cast.owner)] == [project.id]
    assert host.launched == [] and host.runs == []


def test_repository_urls_of_each_scheme_are_kept(fleet: Fleet, cast: RemoteCast) -> None:
    urls = [
        "https://example.com/r.git",
        "http://example.com/r.git",
        "git://example.com/r.git",
        "ssh://git@example.com/r.git",
        "file:///srv/git/r.git",
        "git@example.com:rovers/r.git",
    ]
    for url in urls:
        fleet.remote.ci.create(cast.owner, url)
    assert sorted(p.repo_url for p in fleet.remote.ci.list(cast.owner)) == sorted(urls)
    with pytest.raises(NotFound):
        fleet.remote.ci_jobs.submit(cast.owner, "0" * 8, "main")
    with pytest.raises(NotFound):
        fleet.remote.ci_jobs.get(cast.owner, "not-a-job")
