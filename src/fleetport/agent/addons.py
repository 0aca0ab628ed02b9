"""The robot's side of the add-ons of remote-access instances: cam, drive, and the targets of the
relayed ones (mistyproxy, vnc).

cam: each snapshot the server asks for is a JPEG (RGB). With ``--camera-device`` it is a frame of
that camera, read with OpenCV (``fleetport[camera-opencv]``): digits are a camera index (``0``),
anything else a path OpenCV opens (``/dev/video2``, a video file, a stream URL). The device is
opened for each snapshot and released right after: no stale frame waits in a driver's buffer
between snapshots, and other programs on the robot may use the camera in between; snapshots take
turns (one device open at a time). A device that does not open or gives no frame fails the
snapshot with that reason. Without a device the image is a generated test pattern (colour bars
with the current time on them). Images are encoded with Pillow (``fleetport[camera]``); without it
the agent answers each snapshot with a failure naming that extra.

drive: each command (a JSON object) is written, in the order the server sent them, as one JSON
line to the standard input of ``--drive-command`` (run by the shell, started on the first
command and kept running; started again if it exited), and logged as ``drive: <json>`` (so it
reaches the part's logs). Without a drive command only the log line is written.

mistyproxy and vnc: the server relays connections to a TCP server on the robot's side through
streams. The agent's own ``--mistyproxy-target`` / ``--vnc-target`` names it; without one, the
address the deployment's add-on config names is taken if the agent may dial it (loopback, or on
its ``--allow-target`` list). The agent confirms the add-on with the target it chose, and its
streams may dial that target while the add-on is active; with no target it refuses the add-on,
saying which option to give.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fleetport.agent.relay import TargetRefused, parse_target

log = logging.getLogger("fleetport.agent")

NO_PILLOW = "camera images need Pillow on the robot: install fleetport[camera]"
NO_OPENCV = "reading --camera-device needs OpenCV on the robot: install fleetport[camera-opencv]"
_DEVICE = threading.Lock()  # one snapshot opens the camera at a time
SIZE = (320, 240)
BARS = ((192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0), (192, 0, 192), (192, 0, 0), (0, 0, 192))


class CameraUnavailable(Exception):
    """No image can be taken (no Pillow, no OpenCV for a device, the device gives no frame)."""


def snapshot(camera_device: str | None) -> bytes:
    """A JPEG: a frame of the camera device, or the test pattern (blocking: run it in a thread)."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise CameraUnavailable(NO_PILLOW) from None
    if camera_device is not None:
        image = Image.fromarray(_frame(camera_device))
    else:
        image = Image.new("RGB", SIZE)
        draw = ImageDraw.Draw(image)
        width = SIZE[0] // len(BARS) + 1
        for i, colour in enumerate(BARS):
            draw.rectangle((i * width, 0, (i + 1) * width, SIZE[1] * 2 // 3), fill=colour)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
        draw.text((10, SIZE[1] * 2 // 3 + 20), stamp, fill=(255, 255, 255))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def camera_source(device: str) -> int | str:
    """What OpenCV opens for ``--camera-device``: a camera index for digits, else the path."""
    if device.isascii() and device.isdigit():
        return int(device)
    if not device or "\x00" in device:
        raise CameraUnavailable(f"camera device {device[:100]!r} is neither an index nor a path")
    return device


def _frame(device: str) -> Any:
    """An RGB frame (a numpy array) of the camera device, read with OpenCV."""
    try:
        import cv2  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise CameraUnavailable(NO_OPENCV) from None
    source = camera_source(device)
    try:
        with _DEVICE:
            capture = cv2.VideoCapture(source)
            try:
                if not capture.isOpened():
                    raise CameraUnavailable(f"camera device {device[:200]!r} could not be opened")
                ok, frame = capture.read()
            finally:
                capture.release()
        if not ok or frame is None:
            raise CameraUnavailable(f"camera device {device[:200]!r} gave no frame")
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB if frame.ndim == 2 else cv2.COLOR_BGR2RGB)
    except cv2.error as exc:
        raise CameraUnavailable(f"OpenCV could not read camera device {device[:200]!r}: {exc}") from None


class Drive:
    def __init__(self, command: str | None) -> None:
        self.command = command
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()  # commands are written in the order they came

    async def send(self, command: dict[str, Any]) -> None:
        line = json.dumps(command, ensure_ascii=False, separators=(",", ":"))
        async with self._lock:
            log.info("drive: %s", line)
            if self.command is None:
                return
            try:
                process = await self._running()
                assert process.stdin is not None
                process.stdin.write(line.encode() + b"\n")
                await process.stdin.drain()
            except (OSError, ConnectionError) as exc:
                log.warning("drive command %r did not take the command: %s", self.command, exc)

    async def _running(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            if self._process is not None:
                log.warning("drive command exited with %s; starting it again", self._process.returncode)
            self._process = await asyncio.create_subprocess_shell(
                str(self.command), stdin=asyncio.subprocess.PIPE
            )
        return self._process

    async def close(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()


RELAYED_PORTS = {"mistyproxy": 80, "vnc": 5900}  # a target given without a port gets this one


class AddonRefused(Exception):
    """The agent does not run the add-on (unknown to it, or no target to relay it to)."""


def target_option(addon: str, value: str) -> str:
    """``--<addon>-target`` as ``host:port``: ``HOST``, ``HOST:PORT``, ``V6`` or ``[V6]:PORT`` (the
    port defaults to the add-on's usual one). Raises ValueError when it is none of these."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{value[:100]!r} is not HOST:PORT")
        port = rest[1:]
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    else:  # a host name, an IPv4 address, or an IPv6 address without a port
        host, port = value, ""
    port = port or str(RELAYED_PORTS[addon])
    if (
        not host
        or not host.isprintable()
        or " " in host
        or not (port.isascii() and port.isdigit())
        or not 0 < int(port) < 65536
    ):
        raise ValueError(f"{value[:100]!r} is not HOST:PORT (a port from 1 to 65535)")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class RelayTargets:
    """The targets of the relayed add-ons active on the robot, by instance and add-on."""

    def __init__(self, configured: dict[str, str | None], allow_targets: Sequence[str]) -> None:
        self.configured = configured  # add-on -> host:port, from the agent's options
        self.allow_targets = list(allow_targets)
        self.active: dict[tuple[str, str], str] = {}

    def start(self, instance: str, addon: str, suggested: object) -> str:
        """The target the add-on of the instance is relayed to from now on."""
        if addon not in RELAYED_PORTS:
            raise AddonRefused(f"this agent does not serve the {addon[:40]} add-on")
        option = f"--{addon}-target"
        target = self.configured.get(addon)
        if target is None:
            if not isinstance(suggested, str) or not suggested:
                raise AddonRefused(
                    f"no {addon} target on the robot: start the agent with {option} HOST:PORT, or set"
                    f' the deployment\'s add-on config {{"{addon}": {{"ip": ..., "port": ...}}}}'
                )
            try:
                parse_target(suggested, self.allow_targets)
            except TargetRefused as exc:
                raise AddonRefused(
                    f"the deployment's {addon} target is refused: {exc}; let it with --allow-target,"
                    f" or give {option}"
                ) from None
            target = suggested
        self.active[(instance, addon)] = target
        return target

    def stop(self, instance: str, addon: str) -> None:
        self.active.pop((instance, addon), None)

    def clear(self) -> None:
        self.active.clear()

    def allowed(self) -> list[str]:
        """What streams may dial besides loopback: the allow-list and the active add-ons' targets."""
        return [*self.allow_targets, *self.active.values()]
