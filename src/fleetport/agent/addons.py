"""The robot's side of the cam and drive add-ons of remote-access instances.

cam: each snapshot the server asks for is a JPEG (RGB). With ``--camera-device`` (a number or a
device path) it is a frame of that camera, read with OpenCV; otherwise it is a generated test
pattern (colour bars with the current time on them). Images are encoded with Pillow
(``fleetport[camera]``); without it the agent answers each snapshot with a failure naming that
extra.

drive: each command (a JSON object) is written, in the order the server sent them, as one JSON
line to the standard input of ``--drive-command`` (run by the shell, started on the first
command and kept running; started again if it exited), and logged as ``drive: <json>`` (so it
reaches the part's logs). Without a drive command only the log line is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("fleetport.agent")

NO_PILLOW = "camera images need Pillow on the robot: install fleetport[camera]"
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


def _frame(device: str) -> Any:
    """An RGB frame (a numpy array) of the camera device, read with OpenCV."""
    try:
        import cv2  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise CameraUnavailable("reading --camera-device needs OpenCV (opencv-python) on the robot") from None
    capture = cv2.VideoCapture(int(device) if device.isdigit() else device)
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok:
        raise CameraUnavailable(f"camera device {device!r} gave no frame")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


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
