"""Settings: defaults, validation (one line per problem), precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaiflow_box.config import ConfigError, load_settings


def test_defaults() -> None:
    settings = load_settings({"SCAIFLOW_ENV_FILE": ""})
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8001)
    assert settings.data_dir == Path("./scaiflow-data")
    assert settings.master_key_path == Path("./scaiflow-data/master.key")
    assert settings.scaikey_algorithms == ("RS256",)
    assert settings.cors_origins == ("http://localhost:5173", "http://127.0.0.1:5173")
    assert settings.default_permissions == {"scaicore:view", "scaicore:manage"}
    assert settings.upstream_timeout_seconds == 10.0 and settings.upstream_allow_private
    assert not settings.scaikey_configured


def test_audience_falls_back_to_client_id() -> None:
    settings = load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_SCAIKEY_CLIENT_ID": "scaiflow"})
    assert settings.expected_audience == "scaiflow"
    settings = load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_SCAIKEY_CLIENT_ID": "scaiflow",
                              "SCAIKEY_AUDIENCE": "aud-x"})
    assert settings.expected_audience == "aud-x"


@pytest.mark.parametrize(("env", "needle"), [
    ({"SCAIKEY_JWKS_URL": "https://keys.example/jwks"}, "SCAIKEY_ISSUER: required"),
    ({"SCAIFLOW_DEFAULT_PERMISSIONS": "scaicore:root"}, "unknown permission"),
    ({"SCAIFLOW_DEPLOY_AUTH": "magic"}, "SCAIFLOW_DEPLOY_AUTH"),
    ({"SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS": "-1"}, "SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS"),
    ({"SCAIFLOW_BODY_TIMEOUT_SECONDS": "nan"}, "SCAIFLOW_BODY_TIMEOUT_SECONDS"),
    ({"SCAIFLOW_BODY_TIMEOUT_SECONDS": "3601"}, "SCAIFLOW_BODY_TIMEOUT_SECONDS"),
    ({"SCAIFLOW_METRICS": "maybe"}, "SCAIFLOW_METRICS: expected true or false"),
    ({"SCAIFLOW_LOG_FORMAT": "xml"}, "SCAIFLOW_LOG_FORMAT"),
    ({"SCAIKEY_JWKS_FILE": "/nonexistent/jwks.json", "SCAIKEY_ISSUER": "https://i"},
     "SCAIKEY_JWKS_FILE: file not found"),
])
def test_each_problem_is_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"SCAIFLOW_ENV_FILE": "", **env})
    assert len(info.value.problems) == 1
    assert needle in info.value.problems[0]


@pytest.mark.parametrize("value", ["not-base64!", "c2hvcnQ=", "A" * 60])
def test_a_malformed_master_key_is_named_and_never_echoed(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_MASTER_KEY": value})
    [problem] = caught.value.problems
    assert problem.startswith("SCAIFLOW_MASTER_KEY: must be the base64 encoding of 32 bytes")
    assert value not in problem


def test_an_env_master_key_is_kept_out_of_reprs() -> None:
    import base64

    value = base64.b64encode(bytes(range(32))).decode()
    settings = load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_MASTER_KEY": f" {value} "})
    assert settings.master_key == value
    assert value not in repr(settings)
