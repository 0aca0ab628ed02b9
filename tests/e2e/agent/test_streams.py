"""Streams through the agent: one WebSocket per stream, relayed to a TCP echo server on the robot
side; many at once with large transfers, a stalled one holding up none of the others."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetport.dialects.agent.hub import AgentUnavailable, Hub, hub_of
from fleetport.dialects.agent.streams import pipe
from fleetport.server import ServerThread
from fleetport.testing import FleetportServer, free_port
from tests.conftest import start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, agent_for, make_robot

CHUNK = 64 * 1024


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[tuple[FleetportServer, ServerThread]]:
    running = start_server(tmp_path / "server", env=FAST, in_process=True)
    try:
        assert isinstance(running._thread, ServerThread)
        yield running, running._thread
    finally:
        running.stop()


async def _client(port: int, size: int, stall: float = 0.0) -> bool:
    """Sends ``size`` random bytes through the relay while reading the echo (after ``stall``
    seconds of not reading); whether every byte came back in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = os.urandom(size)

    async def send() -> None:
        for start in range(0, size, CHUNK):
            writer.write(payload[start : start + CHUNK])
            await writer.drain()

    sending = asyncio.create_task(send())
    await asyncio.sleep(stall)
    received = bytearray()
    while len(received) < size:
        data = await asyncio.wait_for(reader.read(CHUNK), 30)
        if not data:
            break
        received += data
    await sending
    writer.close()
    return bytes(received) == payload


def test_many_concurrent_streams_with_large_transfers(
    in_process: tuple[FleetportServer, ServerThread], tmp_path: Path
) -> None:
    running, thread = in_process
    assert thread.fleet is not None
    hub: Hub = hub_of(thread.fleet)
    robot = make_robot(running, tmp_path)
    echo_port, relay_port = free_port(), free_port()
    agent: AgentProcess = agent_for(robot, tmp_path / "agent").start()
    try:
        agent.wait_log(f"connected to the server as part {robot.part_id}")

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            stream = await hub.open_stream(robot.part_id, f"127.0.0.1:{echo_port}", timeout=10)
            await pipe(stream, reader, writer)

        async def listen() -> list[asyncio.Server]:
            return [
                await asyncio.start_server(_echo, "127.0.0.1", echo_port),
                await asyncio.start_server(relay, "127.0.0.1", relay_port),
            ]

        servers = thread.run_coroutine(listen()).result(10)

        async def scenario() -> tuple[bool, list[bool], bool]:
            stalled = asyncio.create_task(_client(relay_port, 8 << 20, stall=3.0))
            await asyncio.sleep(0.5)
            started = asyncio.get_running_loop().time()
            others = await asyncio.gather(*(_client(relay_port, 2 << 20) for _ in range(16)))
            quick = asyncio.get_running_loop().time() - started < 3.0  # before the stalled one reads
            return await stalled, list(others), quick

        stalled_ok, others_ok, quick = asyncio.run(scenario())
        assert all(others_ok) and stalled_ok
        assert quick, "the other streams waited for the stalled one"

        async def refused() -> str:
            with pytest.raises(AgentUnavailable) as failed:
                await hub.open_stream(robot.part_id, "192.0.2.7:22", timeout=5)
            return str(failed.value)

        assert "allow-list" in thread.run_coroutine(refused()).result(10)

        async def close(found: list[asyncio.Server]) -> None:
            for server in found:
                server.close()

        thread.run_coroutine(close(servers)).result(10)
    finally:
        agent.stop()
