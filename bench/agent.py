"""The agent hub under load: N simulated agents on one server process, and stream throughput
through the hub against a direct TCP connection in the same run.

Part 1 starts a real server (a subprocess, SQLite unless ``--database-url``), makes N machines and
connects N simulated agents (WebSocket clients in this process that read their welcome and config
and beat every ``--heartbeat`` seconds), then reads the server's resident memory and CPU use
(``/proc``) idle, once all are connected, and over a steady ``--window``.

Part 2 runs a server in this process (the hub reachable), a real ``fleetport agent`` subprocess
and a TCP echo server subprocess; it moves ``--stream-mib`` MiB through each of 1 and 8 concurrent
streams (client -> relay port on the server -> WebSocket -> agent -> echo and back) and the same
directly to the echo server. Prints numbers; asserts nothing.

    .venv/bin/python bench/agent.py [--agents 1000] [--heartbeat 5] [--window 20] [--stream-mib 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from fleetport import Client
from fleetport.testing import ADMIN_KEY, free_port, start_server

CHUNK = 64 * 1024
ECHO = """
import asyncio, sys
async def echo(r, w):
    while data := await r.read(65536):
        w.write(data); await w.drain()
    w.close()
async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
asyncio.run(main())
"""


def proc_stats(pid: int) -> tuple[float, float]:
    """(resident MiB, CPU seconds used so far) of a process."""
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


async def simulated_agent(url: str, secret: str, beat: float, ready: asyncio.Event, count: list[int]) -> None:
    async with connect(url, additional_headers={"Authorization": f"Bearer {secret}"}, open_timeout=60) as ws:
        await ws.recv()  # welcome
        await ws.recv()  # config
        count[0] += 1
        if count[0] == count[1]:
            ready.set()
        await beating(ws, beat)


async def beating(ws: ClientConnection, beat: float) -> None:
    await asyncio.sleep(beat * (hash(id(ws)) % 1000) / 1000)  # spread the beats
    while True:
        await ws.send('{"type":"heartbeat"}')
        await asyncio.sleep(beat)


def part_one(args: argparse.Namespace, workdir: Path) -> None:
    env = {
        "FLEETPORT_AGENT__HEARTBEAT_SECONDS": str(args.heartbeat),
        "FLEETPORT_AGENT__OFFLINE_AFTER_SECONDS": str(args.heartbeat * 3),
        "FLEETPORT_LOG_LEVEL": "warning",
    }
    server = start_server(workdir / "server", env=env, database_url=args.database_url, timeout=60)
    try:
        assert server.process is not None
        pid = server.process.pid
        secrets = []
        with Client(server.url, ADMIN_KEY, timeout=60) as fp:
            org = fp.organizations.create("bench")
            location = fp.locations.create(org.id, "yard")
            for i in range(args.agents):
                machine = fp.machines.create(location.id, f"robot-{i}")
                (part,) = list(fp.machines.parts(machine.id))
                secrets.append(fp.parts.agent_config(part.id).secret)
        idle_rss, _ = proc_stats(pid)
        url = server.url.replace("http://", "ws://") + "/agent/v1/connect"

        async def run() -> tuple[float, float, float, float, float]:
            ready, count = asyncio.Event(), [0, len(secrets)]
            started = time.monotonic()
            _, cpu_before = proc_stats(pid)
            tasks = []
            for secret in secrets:
                tasks.append(asyncio.create_task(simulated_agent(url, secret, args.heartbeat, ready, count)))
                await asyncio.sleep(0.002)
            await asyncio.wait_for(ready.wait(), 300)
            connect_seconds = time.monotonic() - started
            rss_connected, cpu_connected = proc_stats(pid)
            await asyncio.sleep(args.window)
            rss_after, cpu_after = proc_stats(pid)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            cpu_connecting, cpu_window = cpu_connected - cpu_before, cpu_after - cpu_connected
            return (connect_seconds, rss_connected, rss_after, cpu_connecting, cpu_window)

        connect_s, rss_connected, rss_after, cpu_connecting, cpu_window = asyncio.run(run())
        database = server.database_url or "SQLite"
        print(f"agents: {args.agents}, heartbeat every {args.heartbeat:g} s, {database}")
        print(f"  all connected in {connect_s:.1f} s (server CPU {cpu_connecting:.1f} s while connecting)")
        print(
            f"  server RSS: idle {idle_rss:.0f} MiB, all connected {rss_connected:.0f} MiB,"
            f" after {args.window:g} s {rss_after:.0f} MiB"
        )
        print(f"  per agent: {(rss_after - idle_rss) * 1024 / args.agents:.0f} KiB")
        print(
            f"  server CPU over {args.window:g} s of heartbeats:"
            f" {100 * cpu_window / args.window:.1f} % of a core"
            f" ({args.agents / args.heartbeat:.0f} heartbeats/s)"
        )
    finally:
        server.stop()


async def transfer(port: int, size: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    block = os.urandom(CHUNK)

    async def send() -> None:
        for _ in range(size // CHUNK):
            writer.write(block)
            await writer.drain()

    sending = asyncio.create_task(send())
    received = 0
    while received < size:
        data = await reader.read(CHUNK * 4)
        if not data:
            raise RuntimeError("the stream ended early")
        received += len(data)
    await sending
    writer.close()


async def throughput(port: int, streams: int, mib: int) -> float:
    size = mib << 20
    started = time.monotonic()
    await asyncio.gather(*(transfer(port, size) for _ in range(streams)))
    return streams * mib / (time.monotonic() - started)


def part_two(args: argparse.Namespace, workdir: Path) -> None:
    # bench/viam.py would shadow the viam package the server in this process imports
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    from fleetport.dialects.agent.hub import hub_of
    from fleetport.dialects.agent.streams import pipe
    from fleetport.server import ServerThread

    server = start_server(workdir / "stream-server", env={"FLEETPORT_LOG_LEVEL": "warning"}, in_process=True)
    echo_port, relay_port = free_port(), free_port()
    echo = subprocess.Popen([sys.executable, "-c", ECHO, str(echo_port)])
    agent = None
    try:
        with Client(server.url, ADMIN_KEY) as fp:
            org = fp.organizations.create("bench streams")
            machine = fp.machines.create(fp.locations.create(org.id, "lab").id, "streamer")
            (part,) = list(fp.machines.parts(machine.id))
            enrolment = fp.parts.agent_config(part.id)
        config = workdir / "enrolment.json"
        config.write_text(json.dumps(enrolment.model_dump()))
        command = [sys.executable, "-m", "fleetport.cli", "agent", "--config", str(config)]
        command += ["--telemetry-port", "0"]
        command += ["--state-dir", str(workdir / "agent"), "--log-level", "warning"]
        agent = subprocess.Popen(command)
        thread = server._thread
        assert isinstance(thread, ServerThread) and thread.fleet is not None
        hub = hub_of(thread.fleet)
        deadline = time.monotonic() + 30
        while part.id not in hub.connected():
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not connect")
            time.sleep(0.1)

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await pipe(await hub.open_stream(part.id, f"127.0.0.1:{echo_port}"), reader, writer)

        async def listen() -> asyncio.Server:
            return await asyncio.start_server(relay, "127.0.0.1", relay_port)

        thread.run_coroutine(listen()).result(10)
        print(f"stream throughput, {args.stream_mib} MiB each way per stream (MiB/s echoed):")
        for streams in (1, 8):
            direct = asyncio.run(throughput(echo_port, streams, args.stream_mib))
            hubbed = asyncio.run(throughput(relay_port, streams, args.stream_mib))
            share = f"{hubbed / direct:.0%}"
            print(f"  {streams} stream(s): direct TCP {direct:.0f}, through the hub {hubbed:.0f} ({share})")
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait()
        echo.terminate()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--stream-mib", type=int, default=64)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--skip-agents", action="store_true")
    parser.add_argument("--skip-streams", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetport-bench-agent-") as directory:
        if not args.skip_agents:
            part_one(args, Path(directory))
        if not args.skip_streams:
            part_two(args, Path(directory))


if __name__ == "__main__":
    main()
