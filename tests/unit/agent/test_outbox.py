"""The agent's outbox: sequence numbers per kind, order, acknowledgement, refusal, file positions
kept with the batch that carries their lines, and everything kept across a reopening."""

from __future__ import annotations

import threading
from pathlib import Path

from fleetport.agent.link import BACKOFF_MAX, backoff
from fleetport.agent.outbox import Outbox
from fleetport.agent.relay import TargetRefused, parse_target


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
