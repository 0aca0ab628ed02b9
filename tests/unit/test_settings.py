"""Settings: FLEETPORT_* variables parsed by type, a section per dialect with the flat names kept
as aliases, flags over variables over defaults, and one clear line for a value that does not parse,
also from a real ``fleetport serve``."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetport.settings import Settings
from tests.e2e.test_server_start import serve_once


def problem(environ: dict[str, str]) -> str:
    """The line a bad environment stops the server with."""
    with pytest.raises(SystemExit) as stopped:
        Settings.from_env(environ)
    message = str(stopped.value.code)
    assert "\n" not in message and "Traceback" not in message, message
    return message


@pytest.mark.parametrize("raw", ["true", "True", "1", "yes", "on", "TRUE"])
def test_true_in_its_spellings(raw: str) -> None:
    assert Settings.from_env({"FLEETPORT_ONEP__ENABLED": raw}).onep.enabled is True


@pytest.mark.parametrize("raw", ["false", "False", "0", "no", "off", "FALSE"])
def test_false_in_its_spellings_is_false(raw: str) -> None:
    settings = Settings.from_env({"FLEETPORT_ONEP__ENABLED": raw, "FLEETPORT_VIAM__ENABLED": raw})
    assert settings.onep.enabled is False and settings.viam.enabled is False


def test_a_word_that_is_no_boolean_is_refused_by_name() -> None:
    message = problem({"FLEETPORT_ONEP__ENABLED": "maybe"})
    assert message.startswith("FLEETPORT_ONEP__ENABLED='maybe'") and "boolean" in message


def test_numbers_and_paths_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "FLEETPORT_HTTP_PORT": "9090",
            "FLEETPORT_CREDENTIAL_CACHE_SECONDS": "0.25",
            "FLEETPORT_DATA_DIR": "/srv/fleet data",
            "FLEETPORT_TLS_CERT": "certs/server.pem",
            "FLEETPORT_SQLITE_SYNCHRONOUS": "full",
        }
    )
    assert settings.http_port == 9090 and settings.credential_cache_seconds == 0.25
    assert settings.data_dir == Path("/srv/fleet data") and settings.tls_cert == Path("certs/server.pem")
    assert settings.sqlite_synchronous == "FULL"


@pytest.mark.parametrize(
    ("environ", "named", "reason"),
    [
        ({"FLEETPORT_HTTP_PORT": "eighty"}, "FLEETPORT_HTTP_PORT='eighty'", "integer"),
        ({"FLEETPORT_HTTPS_PORT": "70000"}, "FLEETPORT_HTTPS_PORT='70000'", "65535"),
        ({"FLEETPORT_WORKER_THREADS": "0"}, "FLEETPORT_WORKER_THREADS='0'", "greater than or equal to 1"),
        ({"FLEETPORT_CREDENTIAL_CACHE_SECONDS": "soon"}, "FLEETPORT_CREDENTIAL_CACHE_SECONDS", "number"),
        ({"FLEETPORT_ONEP__MAX_BODY_BYTES": "big"}, "FLEETPORT_ONEP__MAX_BODY_BYTES='big'", "integer"),
        ({"FLEETPORT_ONEP_MAX_BODY_BYTES": "big"}, "FLEETPORT_ONEP_MAX_BODY_BYTES='big'", "integer"),
        (
            {"FLEETPORT_GRPC_PORT": "-1"},
            "FLEETPORT_GRPC_PORT='-1'",
            "a port number is 1 to 65535 (0 turns its listener off)",
        ),
        ({"FLEETPORT_SQLITE_SYNCHRONOUS": "OFF"}, "FLEETPORT_SQLITE_SYNCHRONOUS='OFF'", "NORMAL or FULL"),
        ({"FLEETPORT_MAX_PAGE_SIZE": "5000"}, "FLEETPORT_MAX_PAGE_SIZE='5000'", "less than or equal to 1000"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_variable(
    environ: dict[str, str], named: str, reason: str
) -> None:
    message = problem(environ)
    assert message.startswith(named) and reason in message, message


def test_an_unknown_setting_of_a_section_is_refused() -> None:
    assert problem({"FLEETPORT_ONEP__MAX_BODY": "5"}) == "FLEETPORT_ONEP__MAX_BODY is not a setting"


def test_sections_and_their_flat_aliases() -> None:
    sectioned = Settings.from_env(
        {"FLEETPORT_ONEP__MAX_BODY_BYTES": "1000", "FLEETPORT_VIAM__GRPC_PORT": "9001"}
    )
    assert sectioned.onep.max_body_bytes == 1000 and sectioned.viam.grpc_port == 9001
    flat = Settings.from_env({"FLEETPORT_ONEP_MAX_BODY_BYTES": "2000", "FLEETPORT_GRPC_PORT": "9002"})
    assert flat.onep.max_body_bytes == 2000 and flat.viam.grpc_port == 9002
    both = Settings.from_env(
        {"FLEETPORT_ONEP_MAX_BODY_BYTES": "2000", "FLEETPORT_ONEP__MAX_BODY_BYTES": "1000"}
    )
    assert both.onep.max_body_bytes == 1000  # the sectioned name wins
    # a section's other settings keep their values when one is given
    assert flat.onep.enabled is True and Settings.from_env(
        {"FLEETPORT_ONEP__ENABLED": "0"}
    ).onep.max_body_bytes == (16 << 20)


def test_flags_win_over_variables_which_win_over_defaults() -> None:
    environ = {"FLEETPORT_HTTP_PORT": "9100", "FLEETPORT_GRPC_PORT": "9101", "FLEETPORT_HOST": "0.0.0.0"}
    settings = Settings.from_env(environ, http_port=9200, grpc_port=9201, host=None)
    assert (settings.http_port, settings.viam.grpc_port, settings.host) == (9200, 9201, "0.0.0.0")
    assert Settings.from_env({}).http_port == 8080
    # a flag replaces a variable that would not parse
    assert Settings.from_env({"FLEETPORT_HTTP_PORT": "eighty"}, http_port=9300).http_port == 9300


def test_an_empty_variable_is_not_set() -> None:
    settings = Settings.from_env(
        {"FLEETPORT_HTTP_PORT": "", "FLEETPORT_ONEP__ENABLED": "", "FLEETPORT_GRPC_PORT": ""}
    )
    assert settings.http_port == 8080 and settings.onep.enabled is True and settings.viam.grpc_port == 8081


def test_the_constructor_takes_only_what_it_is_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLEETPORT_HTTP_PORT", "9400")
    monkeypatch.setenv("FLEETPORT_ONEP__ENABLED", "false")
    settings = Settings(data_dir=tmp_path, database_url="sqlite://")
    assert settings.http_port == 8080 and settings.onep.enabled is True and settings.data_dir == tmp_path
    assert Settings.from_env().http_port == 9400  # the process's environment, read when asked


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLEETPORT_HTTP_PORT", "eighty"),
        ("FLEETPORT_ONEP__ENABLED", "maybe"),
        ("FLEETPORT_GRPC_PORT", "-1"),
        ("FLEETPORT_VIAM__GRPC_PORT", "99999"),
        ("FLEETPORT_LOG_RETENTION_COUNT", "lots"),
    ],
)
def test_serve_stops_with_one_line_naming_a_bad_variable(tmp_path: Path, variable: str, value: str) -> None:
    result = serve_once(tmp_path / "data", {variable: value})
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1 and output.count("\n") == 0 and "Traceback" not in output, output
    assert output.startswith(f"{variable}={value!r} is not valid"), output
    assert not (tmp_path / "data").exists()


def test_a_section_as_one_variable_is_a_json_object() -> None:
    assert Settings.from_env({"FLEETPORT_ONEP": '{"max_body_bytes": 5000}'}).onep.max_body_bytes == 5000
    assert problem({"FLEETPORT_ONEP": "small"}).startswith("FLEETPORT_ONEP must be a JSON object")
