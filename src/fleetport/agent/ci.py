"""CI jobs the server asks the agent to run (``ci_job``), each in the workspace of its instance.

A job clones its repository into ``<workspace>/repo`` (``git clone --branch=<branch> -- <url>``,
then ``git checkout --detach`` of the commit when one is named), reads the job file
``.fleetport-ci.toml`` at the repository's root, and runs its script lines one after another with
``/bin/sh -c`` in the checkout. Everything git and the script write (stdout and stderr) goes to the
job's log, sent to the server as it comes (``ci_log``), up to the job's log limit. The job ends
with ``ci_done``: ``passed`` when every line exits 0, ``failed`` with the exit code of the first
line that does not (or when the time limit stops it), ``error`` when it could not run (the clone,
the commit, the job file). A job file naming another workspace type than the deployment's is
reported (``ci_needs``) and the job stops: the server moves it to a deployment of that type.

Git runs on the robot itself (the agent's host needs git), whatever the workspaces are. The script
lines run where the instance's other commands do, through the workspace's runner: on the robot, or
inside the instance's container (``<runtime> exec -w /root/repo``: the workspace directory, where
the clone is, is bind-mounted at ``/root``), so a container image needs ``/bin/sh`` but not git.
When the time limit stops a line (or the job is cancelled), the line's process group on the robot
is killed, and in a container the runner ends the commands inside too (killing an ``exec`` client
does not end what it started).

The job file::

    workspace = "fixed_misty2"   # optional: the workspace type the job needs
    script = ["make test", "python3 drive_square.py"]

Git is only ever given the repository URL, branch and commit as arguments (never through a
shell), after ``--``; it runs with ``GIT_ALLOW_PROTOCOL`` limited to https, http, git and ssh
(and file when the agent was started with ``--allow-file-repos``), no terminal prompts, and the
workspace as ``HOME``. As with SSH sessions, a workspace on the robot is not an isolation
boundary: the script runs as the agent's own user.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import re
import signal
import stat
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetport.agent.containers import Runner

log = logging.getLogger("fleetport.agent")

JOB_FILE = ".fleetport-ci.toml"
JOB_FILE_MAX = 64 * 1024
SCRIPT_MAX = 100  # lines
LINE_MAX = 4096  # characters of one script line
CHUNK = 32 * 1024  # bytes of log per message, at most
FLUSH_SECONDS = 0.3
SCHEMES = ("https", "http", "git", "ssh")
_TYPE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_SCP_LIKE = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9][A-Za-z0-9.-]*:[^-\s][^\s]*")
_SHA = re.compile(r"[0-9a-f]{40,64}")

Report = Callable[..., Awaitable[None]]
WorkspaceOf = Callable[[str], "tuple[Path, Runner] | None"]  # an instance's directory and runner
CHECKOUT = "repo"  # the clone, within the workspace


class JobRefused(Exception):
    """The job cannot run: its message says why, as a line of the job's log."""


@dataclass
class JobFile:
    workspace: str | None
    script: list[str]


def check_source(url: str, branch: str, ref: str, allow_file: bool) -> None:
    """Refuses what git must not be given (the server checks the same before it asks)."""
    for what, value in (("repository URL", url), ("branch", branch), ("commit", ref)):
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F or ch.isspace() for ch in value) or value.startswith("-"):
            raise JobRefused(
                f"the {what} {value[:200]!r} is refused: no spaces, control characters or leading '-'"
            )
    if not branch:
        raise JobRefused("the job names no branch")
    scheme, sep, rest = url.partition("://")
    allowed = SCHEMES + (("file",) if allow_file else ())
    if sep:
        if scheme.lower() not in allowed:
            extra = (
                "" if allow_file or scheme.lower() != "file" else " (start the agent with --allow-file-repos)"
            )
            raise JobRefused(
                f"the repository URL's scheme {scheme[:20]!r} is not allowed on this robot{extra}"
            )
        if not rest or rest.startswith("-"):
            raise JobRefused("the repository URL names no host or path")
    elif not _SCP_LIKE.fullmatch(url):
        raise JobRefused(f"the repository URL {url[:200]!r} is not one this agent clones")


def read_job_file(repo: Path) -> JobFile:
    path = repo / JOB_FILE
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise JobRefused(
            f"the repository has no {JOB_FILE} at its root: it names the script to run"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise JobRefused(f"{JOB_FILE} is not a regular file (a link or a directory)")
    if info.st_size > JOB_FILE_MAX:
        raise JobRefused(f"{JOB_FILE} is larger than {JOB_FILE_MAX} bytes")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise JobRefused(f"{JOB_FILE} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"workspace", "script"})
    if unknown:
        raise JobRefused(f"{JOB_FILE} holds unknown keys {unknown[:5]}: it knows workspace and script")
    workspace = data.get("workspace")
    if workspace is not None and (not isinstance(workspace, str) or not _TYPE.fullmatch(workspace)):
        raise JobRefused(f'{JOB_FILE}: workspace is a workspace type, like "fixed_misty2"')
    script = data.get("script")
    if (
        not isinstance(script, list)
        or not 1 <= len(script) <= SCRIPT_MAX
        or not all(isinstance(x, str) and 0 < len(x) <= LINE_MAX and "\x00" not in x for x in script)
    ):
        raise JobRefused(
            f"{JOB_FILE}: script is a list of 1 to {SCRIPT_MAX} command lines (text of at most "
            f'{LINE_MAX} characters each), like script = ["make test"]'
        )
    return JobFile(workspace, script)


class JobLog:
    """The job's log on its way to the server: sent in chunks as it comes, cut at its limit."""

    def __init__(self, report: Report, job_id: str, limit: int) -> None:
        self.report, self.job_id, self.limit = report, job_id, limit
        self._pending: list[str] = []
        self._sent = 0
        self._cut = False
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._pump())

    def write(self, text: str) -> None:
        if text and not self._cut:
            self._pending.append(text)
            if sum(len(x) for x in self._pending) >= CHUNK:
                self._wake.set()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._flush()

    async def _pump(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        text, self._pending = "".join(self._pending), []
        while text and not self._cut:
            room = self.limit - self._sent
            data = text.encode("utf-8", "replace")[: min(CHUNK, room)]
            piece = data.decode("utf-8", "ignore") if data else ""
            text = text[len(piece) :]
            if len(data) >= room or not piece:
                self._cut = True
                piece += f"\n[the log is cut here: it reached its limit of {self.limit} bytes]\n"
            self._sent += len(data)
            with contextlib.suppress(Exception):
                await self.report("ci_log", job=self.job_id, data=piece)


class CiRunner:
    def __init__(self, report: Report, workspace_of: WorkspaceOf, allow_file_repos: bool = False) -> None:
        self.report = report
        self.workspace_of = workspace_of
        self.allow_file_repos = allow_file_repos
        self._jobs: dict[str, asyncio.Task[None]] = {}

    def start(self, message: dict[str, Any]) -> None:
        instance = str(message.get("instance"))[:100]
        if instance in self._jobs:
            return
        task = asyncio.create_task(self._run(message))
        self._jobs[instance] = task
        task.add_done_callback(lambda _: self._jobs.pop(instance, None))

    async def cancel(self, instance_id: str) -> None:
        """Stops the job of an instance that is being destroyed."""
        task = self._jobs.pop(instance_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def cancel_all(self) -> None:
        for instance_id in list(self._jobs):
            await self.cancel(instance_id)

    async def _run(self, message: dict[str, Any]) -> None:
        job_id = str(message.get("job"))[:100]
        limit = message.get("log_bytes")
        seconds = message.get("time_limit_seconds")
        out = JobLog(self.report, job_id, limit if isinstance(limit, int) and limit > 0 else 1 << 20)
        job = _Job(message, out, float(seconds) if isinstance(seconds, int) and seconds > 0 else 1800.0)
        outcome: tuple[str, int | None, str] | None
        try:
            outcome = await job.run(self.workspace_of, self.allow_file_repos)
        except JobRefused as exc:
            out.write(f"error: {exc}\n")
            outcome = ("error", None, str(exc))
        except asyncio.CancelledError:
            await out.close()
            raise
        except Exception as exc:  # an OSError starting git or the shell
            log.warning("CI job %s could not run", job_id, exc_info=True)
            out.write(f"error: the job could not run: {exc}\n")
            outcome = ("error", None, f"the job could not run: {exc}")
        await out.close()
        if outcome is None:  # another workspace type: the server moves the job
            with contextlib.suppress(Exception):
                await self.report("ci_needs", job=job_id, workspace=job.needs)
            return
        status, code, reason = outcome
        log.info("CI job %s %s%s", job_id, status, f" ({reason})" if reason else "")
        with contextlib.suppress(Exception):
            await self.report("ci_done", job=job_id, status=status, exit_code=code, reason=reason[:1000])


class _Job:
    def __init__(self, message: dict[str, Any], out: JobLog, seconds: float) -> None:
        self.message = message
        self.out = out
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.needs = ""

    def _text(self, name: str) -> str:
        value = self.message.get(name)
        return value if isinstance(value, str) else ""

    async def run(self, workspace_of: WorkspaceOf, allow_file: bool) -> tuple[str, int | None, str] | None:
        url, branch, ref = self._text("repo_url"), self._text("branch"), self._text("ref")
        check_source(url, branch, ref, allow_file)
        instance = self._text("instance")
        held = workspace_of(instance)
        if held is None:
            raise JobRefused(f"this agent holds no workspace for instance {instance[:100]!r}")
        workspace, runner = held
        env = _git_env(workspace, allow_file)
        self.out.write(f"$ git clone --branch={branch} -- {url} {CHECKOUT}\n")
        code = await self._command(
            ["git", "clone", "--quiet", f"--branch={branch}", "--", url, CHECKOUT], workspace, env
        )
        if code is None:
            return self._timed_out()
        if code != 0:
            raise JobRefused(
                f"the repository could not be cloned at branch {branch!r} (git clone exited with {code}): "
                "check that the branch exists and the URL is right"
            )
        repo = workspace / CHECKOUT
        if ref:
            sha = await _resolve(repo, ref, env)
            if sha is None:
                raise JobRefused(
                    f"the commit {ref!r} was not found in the repository (cloned at branch {branch!r})"
                )
            code = await self._command(
                ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", sha], repo, env
            )
            if code != 0:
                raise JobRefused(
                    f"the commit {ref!r} could not be checked out (git checkout exited with {code})"
                )
        head = await _resolve(repo, "HEAD", env) or "?"
        self.out.write(f"checked out {head} (branch {branch})\n")
        spec = read_job_file(repo)
        own = self._text("workspace_type")
        if spec.workspace is not None and spec.workspace != own:
            self.out.write(
                f"the job file asks for workspace type {spec.workspace}; this deployment is of type {own}\n"
            )
            self.needs = spec.workspace
            return None
        variables = {
            "CI": "true",
            "FLEETPORT_CI_JOB": self._text("job"),
            "FLEETPORT_CI_BRANCH": branch,
            "FLEETPORT_CI_COMMIT": head,
        }
        for line in spec.script:
            self.out.write(f"$ {line}\n")
            run = runner.invocation(instance, workspace, line, workdir=CHECKOUT, env=variables)
            code = await self._command(run.argv, run.cwd, run.env, lambda: runner.end_commands(instance))
            if code is None:
                return self._timed_out()
            if code != 0:
                self.out.write(f"the command exited with {code}\n")
                return "failed", code, f"{line[:200]!r} exited with {code}"
        self.out.write("every command exited with 0: passed\n")
        return "passed", 0, ""

    def _timed_out(self) -> tuple[str, int | None, str]:
        reason = f"the job's time limit of {self.seconds:g} s was reached: its command was stopped"
        self.out.write(reason + "\n")
        return "failed", None, reason

    async def _command(
        self,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        end_inside: Callable[[], Awaitable[None]] | None = None,
    ) -> int | None:
        """Runs ``argv`` (no shell), its output into the log; its exit code (128 + the signal when
        one ended it), None when the time limit stopped it. Stopped, its process group is killed,
        then ``end_inside`` ends what it left running elsewhere (in a container)."""
        child = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        assert child.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            async with asyncio.timeout(max(0.0, self.deadline - time.monotonic())):
                while chunk := await child.stdout.read(4096):
                    self.out.write(decoder.decode(chunk))
                code = await child.wait()
        except TimeoutError:
            return None
        finally:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signal.SIGKILL)
                await child.wait()
                if end_inside is not None:
                    with contextlib.suppress(Exception):
                        await end_inside()
        self.out.write(decoder.decode(b"", final=True))
        return code if code >= 0 else 128 - code


async def _resolve(repo: Path, revision: str, env: dict[str, str]) -> str | None:
    """The commit id ``revision`` names in the repository, None when it names none."""
    child = await asyncio.create_subprocess_exec(
        "git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}",
        cwd=repo, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await child.communicate()
    sha = out.decode("ascii", "replace").strip()
    return sha if child.returncode == 0 and _SHA.fullmatch(sha) else None


def _git_env(workspace: Path, allow_file: bool) -> dict[str, str]:
    env = _base_env(workspace)
    env |= {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": ":".join(SCHEMES + (("file",) if allow_file else ())),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
    }
    return env


def _base_env(workspace: Path) -> dict[str, str]:
    return {
        "HOME": str(workspace),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "SHELL": "/bin/sh",
    }
