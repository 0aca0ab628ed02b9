"""How a workspace session's command is run for an SSH channel: with pipes, or in a
pseudo-terminal when the client asked for one (``pty-req``, as ``ssh`` does for a shell and
``ssh -t`` for a command).

With pipes, the channel's stdin, stdout and stderr are the command's; the exit status is sent once
everything the command wrote has been passed on (or 5 s after it ended, when a job it left in the
background holds its output open).

In a terminal, the command runs in a new session whose controlling terminal is the pty's slave side, so
``tty`` names a ``/dev/pts`` device, job control works and the terminal's keys (Ctrl-C, Ctrl-Z)
signal the foreground job. The terminal takes the size the client asked for and follows its
window changes (the kernel tells the foreground job with SIGWINCH). The client's bytes go to the
master side unchanged (the terminal echoes and edits lines itself); what the terminal prints
goes back on the channel's stdout. A client that goes away hangs the session up (SIGHUP).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import re
import signal
import struct
import termios
from collections.abc import Callable
from typing import Any

import asyncssh

_TERM = re.compile(r"[A-Za-z0-9._+-]{1,64}")
_SIZE_MAX = 0xFFFF
CHUNK = 64 * 1024
PIPES_DRAIN_SECONDS = 5.0
TERMINAL_DRAIN_SECONDS = 0.3
Started = Callable[[asyncio.subprocess.Process], None]


def exit_status(returncode: int) -> int:
    """The status passed on: the command's, or 128 + the signal that killed it."""
    return returncode if returncode >= 0 else 128 - returncode


async def run_with_pipes(
    process: asyncssh.SSHServerProcess[bytes],
    argv: list[str],
    cwd: str,
    env: dict[str, str],
    started: Started,
) -> int:
    """Runs ``argv`` with pipes for ``process``; its exit status. ``started`` is told of the child
    once it runs."""
    child = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    started(child)
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    output = asyncio.gather(_pass_on(child.stdout, process.stdout), _pass_on(child.stderr, process.stderr))
    typing = asyncio.create_task(_to_command(child.stdin, process, child))
    try:
        returncode = await child.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(output), PIPES_DRAIN_SECONDS)
    finally:
        output.cancel()
        typing.cancel()
        await asyncio.gather(output, typing, return_exceptions=True)
    return exit_status(returncode)


async def _pass_on(source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes]) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionError):  # the client closed the channel
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()


async def _to_command(
    stdin: asyncio.StreamWriter, process: asyncssh.SSHServerProcess[bytes], child: asyncio.subprocess.Process
) -> None:
    """What the client sends, to the command's stdin (closed at the client's EOF); signals the
    client sends reach the command's process group."""
    try:
        while True:
            try:
                data = await process.stdin.read(CHUNK)
            except asyncssh.SignalReceived as received:
                _signal_group(child, received.signal)
                continue
            except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived):
                continue
            if not data:
                break
            stdin.write(data)
            await stdin.drain()
    except (BrokenPipeError, ConnectionError):
        pass  # the command stopped reading
    finally:
        stdin.close()


def _signal_group(child: asyncio.subprocess.Process, name: str) -> None:
    number = getattr(signal, f"SIG{name}", None)
    if isinstance(number, signal.Signals) and child.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, number)


def term_name(requested: str | None) -> str:
    """The TERM the session gets: the client's terminal type when it is a plain name."""
    return requested if requested is not None and _TERM.fullmatch(requested) else "dumb"


def set_size(fd: int, width: int, height: int, pixwidth: int = 0, pixheight: int = 0) -> None:
    """Sets the terminal's size (columns, rows and pixels; each clamped to what the kernel holds)."""
    values = [min(max(int(x), 0), _SIZE_MAX) for x in (height, width, pixwidth, pixheight)]
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *values))


def _take_terminal() -> None:  # runs in the child between fork and exec, after setsid
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


async def run_in_terminal(
    process: asyncssh.SSHServerProcess[bytes],
    argv: list[str],
    cwd: str,
    env: dict[str, str],
    started: Started,
) -> int:
    """Runs ``argv`` in a new pseudo-terminal for ``process``; its exit status (128 + the signal
    that killed it). ``started`` is told of the child once it runs."""
    master, slave = os.openpty()
    try:
        width, height, pixwidth, pixheight = process.term_size
        if width and height:
            set_size(slave, width, height, pixwidth, pixheight)
        env = {**env, "TERM": term_name(process.term_type)}
        child = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)  # the child holds it now: the master reads EIO once every holder is gone
    started(child)
    os.set_blocking(master, False)
    output = asyncio.create_task(_to_client(master, process))
    typing = asyncio.create_task(_to_terminal(master, process, child))
    hangup = asyncio.create_task(_hang_up_when_gone(process, child))
    try:
        returncode = await child.wait()
        # what the terminal still holds, without waiting for background jobs that keep it open
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(output), TERMINAL_DRAIN_SECONDS)
    finally:
        for task in (output, typing, hangup):
            task.cancel()
        await asyncio.gather(output, typing, hangup, return_exceptions=True)
        os.close(master)
    return exit_status(returncode)


def _settle(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    await _until(fd, loop.add_reader, loop.remove_reader)


async def _writable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    await _until(fd, loop.add_writer, loop.remove_writer)


async def _until(
    fd: int, watch: Callable[[int, Callable[..., object], Any], None], unwatch: Callable[[int], bool]
) -> None:
    """Waits until the loop's ``watch`` (add_reader or add_writer) fires for ``fd``."""
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    watch(fd, _settle, ready)
    try:
        await ready
    finally:
        unwatch(fd)


async def _to_client(master: int, process: asyncssh.SSHServerProcess[bytes]) -> None:
    """What the terminal prints, to the channel's stdout, until the terminal closes."""
    while True:
        try:
            data = os.read(master, CHUNK)
        except BlockingIOError:
            await _readable(master)
            continue
        except OSError as exc:
            if exc.errno == errno.EIO:  # every process holding the terminal has gone
                return
            raise
        if not data:
            return
        try:
            process.stdout.write(data)
            await process.stdout.drain()
        except (BrokenPipeError, ConnectionError):
            return  # the client closed the channel


async def _to_terminal(
    master: int, process: asyncssh.SSHServerProcess[bytes], child: asyncio.subprocess.Process
) -> None:
    """What the client types, to the terminal; window changes resize it, signals reach the job."""
    while True:
        try:
            data = await process.stdin.read(CHUNK)
        except asyncssh.TerminalSizeChanged as change:
            set_size(master, change.width, change.height, change.pixwidth, change.pixheight)
            continue
        except asyncssh.SignalReceived as received:
            _signal_group(child, received.signal)
            continue
        except asyncssh.BreakReceived:
            with contextlib.suppress(termios.error):
                termios.tcsendbreak(master, 0)
            continue
        if not data:
            return  # the client sent EOF: the terminal stays open until the command ends
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(master, view) :]
            except BlockingIOError:
                await _writable(master)


async def _hang_up_when_gone(
    process: asyncssh.SSHServerProcess[bytes], child: asyncio.subprocess.Process
) -> None:
    """The client closed the channel (or the connection dropped): the session is hung up."""
    await process.channel.wait_closed()
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGHUP)
