"""The agent's outbox (a real SQLite file): sequence numbers per kind, order, acknowledgement,
refusal, file positions kept with the batch that carries their lines, everything kept across a
reopening; the buffer's cap (oldest logs dropped first, then oldest points, counted) and log batches
split by size."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from fleetport.agent.link import BACKOFF_MAX, backoff
from fleetport.agent.outbox import BufferFull, Outbox
from fleetport.agent.relay import TargetRefused, parse_target
from fleetport.agent.sources import BATCH_BYTES, batches


def test_each_kind_counts_its_own_sequence_numbers_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    assert [box.add("logs", f'{{"n": {i}}}') for i in range(3)] == [1, 2, 3]
    assert box.add("points", "{}") == 1
    assert box.pending("logs", 0, 10) == [(1, '{"n": 0}'), (2, '{"n": 1}'), (3, '{"n": 2}')]
    assert box.pending("logs", 1, 1) == [(2, '{"n": 1}')]
    assert box.count("logs") == 3 and box.count("logs", upto=2) == 2


def test_acknowledged_and_refused_messages_leave_the_rest_stays_across_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    for i in range(5):
        box.add("logs", f'{{"n": {i}}}')
    box.acknowledged("logs", 2)
    box.refused("logs", 4)
    origin = box.origin
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert again.origin == origin
    assert [seq for seq, _ in again.pending("logs", 0, 10)] == [3, 5]
    assert again.add("logs", "{}") == 6  # numbers go on, never reused


def test_streams_carry_the_origin_and_a_new_outbox_gets_another(tmp_path: Path) -> None:
    first, second = Outbox(tmp_path / "a.sqlite"), Outbox(tmp_path / "b.sqlite")
    assert first.stream("logs") == f"logs/{first.origin}" and first.origin != second.origin
    assert first.kind_of(first.stream("points")) == "points"
    assert first.kind_of(second.stream("points")) is None
    assert first.kind_of("nonsense") is None


def test_file_positions_are_stored_with_their_batch(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    assert box.position("/var/log/x") is None
    box.add("logs", "{}", [("/var/log/x", 7, 120)])
    assert box.position("/var/log/x") == (7, 120)
    box.save_positions([("/var/log/x", 8, 0)])
    assert box.position("/var/log/x") == (8, 0)


def test_concurrent_writers_get_distinct_numbers(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    seqs: list[int] = []
    lock = threading.Lock()

    def write() -> None:
        for _ in range(100):
            seq = box.add("points", "{}")
            with lock:
                seqs.append(seq)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seqs) == list(range(1, 401))


def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    for attempt in range(12):
        wait = backoff(attempt)
        assert min(BACKOFF_MAX, 0.5 * 2**attempt) * 0.5 <= wait <= min(BACKOFF_MAX, 0.5 * 2**attempt)


def test_stream_targets_are_loopback_or_allowed() -> None:
    assert parse_target("127.0.0.1:22", []) == ("127.0.0.1", 22)
    assert parse_target("[::1]:8080", []) == ("::1", 8080)
    assert parse_target("localhost:5900", []) == ("localhost", 5900)
    assert parse_target("10.0.0.5:22", ["10.0.0.5"]) == ("10.0.0.5", 22)
    assert parse_target("cam.local:554", ["cam.local:554"]) == ("cam.local", 554)
    for target, allowed in (("10.0.0.5:22", []), ("cam.local:80", ["cam.local:554"]), ("x", []), ("h:0", [])):
        try:
            parse_target(target, allowed)
        except TargetRefused:
            continue
        raise AssertionError(f"{target} was allowed")


def _logs(n: int, start: int = 0, width: int = 100) -> str:
    return json.dumps({"entries": [{"message": f"{start + i:0{width}d}"} for i in range(n)]})


def _points(n: int, start: int = 0) -> str:
    return json.dumps({"alias": "temp", "points": [{"timestamp": start + i, "value": i} for i in range(n)]})


def test_a_full_buffer_drops_the_oldest_log_batches_and_counts_their_lines(tmp_path: Path) -> None:
    batch = _logs(10)
    size = len(batch.encode())
    box = Outbox(tmp_path / "o.sqlite", max_bytes=3 * size)
    seqs = [box.add("logs", _logs(10, 10 * i)) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert [seq for seq, _ in box.pending("logs", 0, 10)] == [3, 4, 5]  # the newest that fit
    assert box.size == 3 * size <= box.max_bytes  # type: ignore[operator]
    assert box.dropped() == {"logs": 20, "points": 0}
    box.close()
    again = Outbox(tmp_path / "o.sqlite", max_bytes=3 * size)  # sizes and counts kept in the file
    assert again.size == 3 * size and again.dropped() == {"logs": 20, "points": 0}
    assert again.take_dropped() == {"logs": 20, "points": 0}
    assert again.dropped() == {"logs": 0, "points": 0}
    again.acknowledged("logs", 4)
    assert again.size == size
    again.refused("logs", 5)
    assert again.size == 0 and again.count("logs") == 0


def test_points_push_out_logs_first_then_the_oldest_points(tmp_path: Path) -> None:
    point = _points(1, 1_000_000_000)
    size = len(point.encode())
    box = Outbox(tmp_path / "o.sqlite", max_bytes=4 * size)
    box.add("logs", _logs(2, width=(size - 40) // 2))  # about one point's worth
    for i in range(6):
        box.add("points", _points(1, 1_000_000_000 + i))
    assert box.count("logs") == 0
    kept = [json.loads(body)["points"][0]["timestamp"] for _, body in box.pending("points", 0, 10)]
    assert kept == [1_000_000_000 + i for i in (2, 3, 4, 5)]
    assert box.dropped() == {"logs": 2, "points": 2}


def test_logs_never_push_points_out_and_oversized_writes_are_refused(tmp_path: Path) -> None:
    point = _points(1, 1_000_000_000)
    size = len(point.encode())
    box = Outbox(tmp_path / "o.sqlite", max_bytes=3 * size)
    for i in range(3):
        box.add("points", _points(1, 1_000_000_000 + i))
    assert box.add("logs", _logs(1), [("/var/log/x", 3, 42)]) is None  # dropped itself, counted
    assert box.position("/var/log/x") == (3, 42)  # its lines are not read again
    assert box.count("points") == 3 and box.dropped() == {"logs": 1, "points": 0}
    with pytest.raises(BufferFull, match="at most"):
        box.add("points", _points(20))
    assert box.count("points") == 3 and box.size == 3 * size  # nothing changed
    unbounded = Outbox(tmp_path / "u.sqlite")
    for i in range(50):
        unbounded.add("points", _points(10, i))
    assert unbounded.count("points") == 50 and unbounded.dropped() == {"logs": 0, "points": 0}


def test_log_batches_are_split_by_size_in_order() -> None:
    entries = [{"message": f"{i:05d}" + "x" * 10_000} for i in range(300)]
    bodies = batches(entries)
    assert len(bodies) > 1 and all(len(b.encode()) <= BATCH_BYTES for b in bodies)
    assert [e for b in bodies for e in json.loads(b)["entries"]] == entries
    assert batches([]) == []
    huge = [{"message": "y" * (BATCH_BYTES + 10)}]
    assert batches(huge) == [json.dumps({"entries": huge})]  # one entry alone may be larger
