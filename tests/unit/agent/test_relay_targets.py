"""The robot's side of the relayed add-ons: which target the agent relays mistyproxy and vnc to
(its own option, else the deployment's address if its allow-list lets it dial it), and what its
streams may dial while they are active."""

from __future__ import annotations

import pytest

from fleetport.agent.addons import AddonRefused, RelayTargets, target_option
from fleetport.agent.relay import TargetRefused, parse_target


def test_target_options_get_the_add_ons_usual_port() -> None:
    assert target_option("vnc", "127.0.0.1") == "127.0.0.1:5900"
    assert target_option("vnc", " 10.0.0.5:5901 ") == "10.0.0.5:5901"
    assert target_option("mistyproxy", "misty.local") == "misty.local:80"
    assert target_option("mistyproxy", "::1") == "[::1]:80"
    assert target_option("mistyproxy", "[fe80::1]:8080") == "[fe80::1]:8080"
    for wrong in (
        "",
        ":80",
        "host:0",
        "host:70000",
        "host:http",
        "a b:80",
        "a\x00b",
        "[::1]x",
        "h:" + "9" * 30,
    ):
        with pytest.raises(ValueError):
            target_option("vnc", wrong)


def test_the_agents_own_target_wins_and_is_dialled_only_while_active() -> None:
    targets = RelayTargets({"mistyproxy": None, "vnc": "192.168.5.9:5900"}, ["10.0.0.7"])
    assert targets.start("i1", "vnc", "127.0.0.1:5999") == "192.168.5.9:5900"
    parse_target("192.168.5.9:5900", targets.allowed())
    targets.stop("i1", "vnc")
    with pytest.raises(TargetRefused):
        parse_target("192.168.5.9:5900", targets.allowed())
    parse_target("10.0.0.7:22", targets.allowed())  # the allow-list stays


def test_the_deployments_target_must_be_one_the_agent_may_dial() -> None:
    targets = RelayTargets({"mistyproxy": None, "vnc": None}, ["10.0.0.7"])
    assert targets.start("i1", "mistyproxy", "127.0.0.1:8080") == "127.0.0.1:8080"
    assert targets.start("i2", "mistyproxy", "10.0.0.7:80") == "10.0.0.7:80"
    with pytest.raises(AddonRefused, match=r"refused.*--allow-target.*--mistyproxy-target"):
        targets.start("i3", "mistyproxy", "192.0.2.1:80")
    with pytest.raises(AddonRefused, match="--vnc-target HOST:PORT"):
        targets.start("i1", "vnc", None)
    with pytest.raises(AddonRefused, match="does not serve the cmdsh add-on"):
        targets.start("i1", "cmdsh", "127.0.0.1:22")
    targets.clear()
    assert targets.allowed() == ["10.0.0.7"]
