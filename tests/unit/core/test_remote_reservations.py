"""Reservations in core (SQLite and PostgreSQL): a holder who may no longer launch when their turn
comes is dropped (its event URL told why) and the next one starts; the event URL's checks."""

from __future__ import annotations

import orjson
import pytest

from fleetport.core.credentials import BearerToken
from fleetport.core.errors import Invalid
from fleetport.core.fleet import Fleet
from fleetport.core.models import GrantSpec
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal
from fleetport.core.telemetry.dispatch import Sending
from tests.unit.core.remote_cast import RemoteCast, remote_cast

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1i1yWbOVoEXdF4DfbyaFFEY2Oy4mJuP8Md2cUzaAOa me@host"


class Sent:
    def __init__(self) -> None:
        self.sendings: list[Sending] = []

    def send(self, sending: Sending) -> None:
        self.sendings.append(sending)

    def bodies(self) -> list[dict[str, str]]:
        return [orjson.loads(s.body) for s in self.sendings]


@pytest.fixture
def cast(fleet: Fleet, admin: Principal) -> RemoteCast:
    return remote_cast(fleet, admin)


def test_holders_who_may_no_longer_launch_are_dropped_and_the_next_one_starts(
    fleet: Fleet, admin: Principal, cast: RemoteCast
) -> None:
    sent = Sent()
    instances, wd = fleet.remote.instances, cast.deployment.id
    instances.dispatcher = sent  # type: ignore[assignment]
    key = fleet.identity.create_key(
        cast.owner, cast.org.id, "robot-ci", [GrantSpec("operator", "organization", cast.org.id)]
    )
    assert key.secret is not None
    by_key = fleet.identity.authenticate(BearerToken(key.secret))
    held = instances.launch(cast.owner, wd, public_key=PUBLIC_KEY).instance
    assert held is not None
    ruled = instances.launch(cast.ruled_in, wd, reserve=True, event_url="http://127.0.0.1:9/rita")
    keyed = instances.launch(by_key, wd, reserve=True, event_url="http://127.0.0.1:9/key")
    locked = instances.launch(cast.operator, wd, reserve=True, event_url="http://127.0.0.1:9/otto")
    kept = instances.launch(cast.owner, wd, reserve=True, event_url="http://127.0.0.1:9/olive")
    assert ruled.reservation and keyed.reservation and locked.reservation and kept.reservation
    (rule,) = [
        r for r in fleet.remote.deployments.rules(cast.owner, wd) if r.user_email == "rita@example.com"
    ]
    fleet.remote.deployments.delete_rule(cast.owner, wd, rule.id)
    fleet.identity.delete_key(cast.owner, key.id)
    fleet.remote.deployments.add_rule(cast.owner, wd, "CAP_NO_INSTANTIATE", "otto@example.com")

    instances.terminate(cast.owner, held.id)
    bodies = sent.bodies()
    assert [(b["event"], b["reservation"]) for b in bodies] == [
        ("RESERVATION_DROPPED", ruled.reservation.id),
        ("RESERVATION_DROPPED", keyed.reservation.id),
        ("RESERVATION_DROPPED", locked.reservation.id),
        ("INSTANCE_LAUNCH", kept.reservation.id),
    ]
    assert [s.url.rsplit("/", 1)[1] for s in sent.sendings] == ["rita", "key", "otto", "olive"]
    assert "no access rule lets you launch" in bodies[0]["reason"]
    assert bodies[1]["reason"] == "whoever made it no longer exists"
    assert "(CAP_NO_INSTANTIATE)" in bodies[2]["reason"]
    assert sent.sendings[0].subject == f"reservation {ruled.reservation.id}"
    for who in (cast.ruled_in, cast.operator, cast.owner):
        assert fleet.remote.reservations.list(who) == []
    (started,) = instances.list(cast.owner, PageRequest()).page.items
    assert started.id == bodies[3]["id"] and started.status == "INIT"
    assert fleet.remote.deployments.get(cast.owner, wd).queuelen == 0


def test_a_holder_let_in_by_another_rule_meanwhile_still_starts(fleet: Fleet, cast: RemoteCast) -> None:
    instances, wd = fleet.remote.instances, cast.deployment.id
    instances.dispatcher = Sent()  # type: ignore[assignment]
    held = instances.launch(cast.owner, wd, public_key=PUBLIC_KEY).instance
    assert held is not None
    waiting = instances.launch(cast.ruled_in, wd, reserve=True, public_key=PUBLIC_KEY)
    assert waiting.reservation is not None
    fleet.remote.deployments.add_rule(cast.owner, wd, "CAP_INSTANTIATE", "*")
    (rule,) = [
        r for r in fleet.remote.deployments.rules(cast.owner, wd) if r.user_email == "rita@example.com"
    ]
    fleet.remote.deployments.delete_rule(cast.owner, wd, rule.id)
    instances.terminate(cast.owner, held.id)  # the rule for everyone lets them launch now
    (started,) = instances.list(cast.ruled_in, PageRequest()).page.items
    assert started.status == "INIT" and started.launched_by == cast.ruled_in.id


HOSTILE: list[object] = [
    "ftp://x/",
    "http://",
    "http:///x",
    "http://x:99999/",
    "http://[zz]/",
    "http://x/a b",
    "http://x/\t",
    "http://x/\x00",
    "http://x/\x85",
    "http://x/\ud800",
    "http://x/" + "a" * 2100,
    5,
]


def test_event_urls_are_absolute_http_urls_with_a_host(fleet: Fleet, cast: RemoteCast) -> None:
    for url in HOSTILE:
        with pytest.raises(Invalid, match="event URL"):
            fleet.remote.instances.launch(
                cast.owner,
                cast.deployment.id,
                public_key=PUBLIC_KEY,
                event_url=url,  # type: ignore[arg-type]
            )
    assert fleet.remote.instances.list(cast.owner, PageRequest()).page.items == []


def test_any_host_is_taken_for_an_event_url(fleet: Fleet, cast: RemoteCast) -> None:
    for url in ("http://10.1.2.3/hook", "http://[::1]:8080/hook", "HTTPS://hooks.example.com/a?b=c"):
        made = fleet.remote.instances.launch(
            cast.owner, cast.deployment.id, public_key=PUBLIC_KEY, event_url=url, reserve=True
        )
        assert made.instance is not None and made.instance.event_url == url
        fleet.remote.instances.terminate(cast.owner, made.instance.id)
