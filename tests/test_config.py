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
    assert settings.upstream_timeout_seconds == 10.0 and settings.upstream_allow == ()
    assert (settings.header_timeout_seconds, settings.keepalive_timeout_seconds,
            settings.max_connections) == (10.0, 75.0, 1024)
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
    ({"SCAIFLOW_UPSTREAM_ALLOW": "grid.lan,127.1"}, "SCAIFLOW_UPSTREAM_ALLOW: '127.1': write"),
    ({"SCAIFLOW_UPSTREAM_ALLOW": "169.254.169.254"}, "never allowed"),
    ({"SCAIFLOW_UPSTREAM_ALLOW": "metadata.google.internal"}, "never allowed"),
    ({"SCAIFLOW_UPSTREAM_ALLOW": "grid.lan:0"}, "not a port"),
    ({"SCAIFLOW_UPSTREAM_ALLOW": "http://grid.lan"}, "SCAIFLOW_UPSTREAM_ALLOW"),
    ({"SCAIFLOW_UPSTREAM_ALLOW": "10.0.0.0/33"}, "not an IP network"),
    ({"SCAIFLOW_UPSTREAM_ALLOW": "grid lan"}, "not a host name"),
    ({"SCAIGRID_BASE_URL": "http://[::169.254.169.254]"}, "SCAIGRID_BASE_URL: link-local"),
    ({"SCAIKEY_BASE_URL": "http://169.254.169.254"}, "SCAIKEY_BASE_URL: link-local"),
    ({"SCAIGRID_BASE_URL": "http://127.1:8080"}, "SCAIGRID_BASE_URL: write the IPv4 address"),
    ({"SCAIFLOW_UPSTREAM_ALLOW_PRIVATE": "true"}, "SCAIFLOW_UPSTREAM_ALLOW_PRIVATE: removed"),
    ({"SCAIFLOW_UPSTREAM_ALLOW_PRIVATE": "maybe"}, "SCAIFLOW_UPSTREAM_ALLOW_PRIVATE: removed"),
    ({"SCAIFLOW_HEADER_TIMEOUT_SECONDS": "0"}, "SCAIFLOW_HEADER_TIMEOUT_SECONDS"),
    ({"SCAIFLOW_KEEPALIVE_TIMEOUT_SECONDS": "3601"}, "SCAIFLOW_KEEPALIVE_TIMEOUT_SECONDS"),
    ({"SCAIFLOW_MAX_CONNECTIONS": "8"}, "SCAIFLOW_MAX_CONNECTIONS: must be between 16"),
])
def test_each_problem_is_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"SCAIFLOW_ENV_FILE": "", **env})
    assert len(info.value.problems) == 1
    assert needle in info.value.problems[0]


def test_the_upstream_allow_list_and_connection_limits_are_parsed() -> None:
    settings = load_settings({
        "SCAIFLOW_ENV_FILE": "",
        "SCAIFLOW_UPSTREAM_ALLOW": " Grid.LAN:8080 , 10.0.0.0/24,*.grid.example,[fd00::5]:443,"
                                   "fd00::6,",
        "SCAIFLOW_HEADER_TIMEOUT_SECONDS": "2.5", "SCAIFLOW_KEEPALIVE_TIMEOUT_SECONDS": "30",
        "SCAIFLOW_MAX_CONNECTIONS": "200"})
    entries = [(e.name, e.domain, str(e.network) if e.network else None, e.port)
               for e in settings.upstream_allow]
    assert entries == [("grid.lan", None, None, 8080), (None, None, "10.0.0.0/24", None),
                       (None, "grid.example", None, None), (None, None, "fd00::5/128", 443),
                       (None, None, "fd00::6/128", None)]
    assert (settings.header_timeout_seconds, settings.keepalive_timeout_seconds,
            settings.max_connections) == (2.5, 30.0, 200)
    assert settings.notices == ()


def test_allow_private_false_is_accepted_with_a_notice() -> None:
    """`false` asked for what the allow-list now does by default: start, and say so."""
    settings = load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_UPSTREAM_ALLOW_PRIVATE": "false"})
    [notice] = settings.notices
    assert notice.startswith("SCAIFLOW_UPSTREAM_ALLOW_PRIVATE is deprecated and has no effect")


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


def test_log_level_and_access_log() -> None:
    settings = load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_LOG_LEVEL": "warning",
                              "SCAIFLOW_ACCESS_LOG": "on"})
    assert (settings.log_level, settings.access_log) == ("warning", True)
    defaults = load_settings({"SCAIFLOW_ENV_FILE": ""})
    assert (defaults.log_level, defaults.access_log) == ("info", False)
    with pytest.raises(ConfigError) as caught:
        load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_LOG_LEVEL": "INFO",
                       "SCAIFLOW_ACCESS_LOG": "sometimes"})
    assert caught.value.problems == [
        "SCAIFLOW_LOG_LEVEL: expected debug, info, warning or error, got 'INFO'",
        "SCAIFLOW_ACCESS_LOG: expected true or false, got 'sometimes'"]


def test_one_line_per_bad_item_of_a_list() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"SCAIFLOW_ENV_FILE": "",
                       "SCAIFLOW_CORS_ORIGINS": "*, https://ok.example, ftp://x"})
    assert caught.value.problems == [
        "SCAIFLOW_CORS_ORIGINS: a wildcard origin is never allowed; list the canvas origins",
        "SCAIFLOW_CORS_ORIGINS: not an http(s) origin: 'ftp://x'"]


def test_every_default_renders_back_to_itself() -> None:
    """What `config` prints for a default is text the setting accepts, meaning the same."""
    from scaiflow_box.config import settings_table

    for row in settings_table():
        value = row.default_value()
        if value is None or row.secret:
            continue
        rendered = row.kind.render(value)
        assert row.kind.parse(rendered) == value, row.env


def test_where_each_value_came_from(tmp_path: Path) -> None:
    from scaiflow_box.config import evaluate

    env_file = tmp_path / "box.env"
    env_file.write_text("SCAIFLOW_API_PORT=9100\nSCAIFLOW_METRICS=true\n")
    evaluation = evaluate({"SCAIFLOW_ENV_FILE": str(env_file), "SCAIFLOW_METRICS": "false",
                           "SCAIFLOW_API_HOST": "  "},
                          {"data_dir": tmp_path / "d", "api_port": None})
    assert evaluation.problems == [] and evaluation.environment.env_file == env_file
    assert {name: evaluation.sources[name] for name in
            ("api_port", "metrics", "data_dir", "api_host", "log_level")} == {
        "api_port": f"env file {env_file}", "metrics": "environment",
        "data_dir": "command line", "api_host": "default", "log_level": "default"}
    assert (evaluation.values["api_port"], evaluation.values["metrics"],
            evaluation.values["api_host"]) == (9100, False, "127.0.0.1")  # blank is unset


def test_a_mariadb_url_is_parsed_and_its_password_never_shown(tmp_path: Path) -> None:
    from scaiflow_box.commands.show_config import _rows
    from scaiflow_box.config import evaluate

    assert load_settings({}).database_url is None  # unset: SQLite in the data dir
    settings = load_settings({"SCAIFLOW_DATABASE_URL": "mariadb://app:s3cret@db.lan:3307/flows"})
    url = settings.database_url
    assert url is not None and (url.host, url.port, url.user, url.database, url.password) == (
        "db.lan", 3307, "app", "flows", "s3cret")
    assert "s3cret" not in repr(settings)
    rows = {row["name"]: row for row in _rows(evaluate(
        {"SCAIFLOW_DATABASE_URL": "mariadb://app:s3cret@db.lan:3307/flows"}))}
    assert rows["SCAIFLOW_DATABASE_URL"]["value"] == "mariadb://app:********@db.lan:3307/flows"
    # invalid: shown as given, the password masked; the problem line names no password
    bad = evaluate({"SCAIFLOW_DATABASE_URL": "postgres://app:s3cret@db.lan/"})
    rows = {row["name"]: row for row in _rows(bad)}
    assert rows["SCAIFLOW_DATABASE_URL"] == {
        "name": "SCAIFLOW_DATABASE_URL", "value": "postgres://app:********@db.lan/",
        "source": "environment", "secret": False, "invalid": True, "default": None}
    assert len(bad.problems) == 1 and "s3cret" not in bad.problems[0]
    assert bad.problems[0].startswith("SCAIFLOW_DATABASE_URL: the scheme must be mariadb://")


def test_a_database_password_file_needs_the_url_and_is_the_only_password(
        tmp_path: Path) -> None:
    password = tmp_path / "db.password"
    password.write_text("pw\n")
    with pytest.raises(ConfigError) as refused:
        load_settings({"SCAIFLOW_DATABASE_PASSWORD_FILE": str(password)})
    assert refused.value.problems == [
        "SCAIFLOW_DATABASE_PASSWORD_FILE: set only with SCAIFLOW_DATABASE_URL (SQLite needs no "
        "password)"]
    with pytest.raises(ConfigError) as twice:
        load_settings({"SCAIFLOW_DATABASE_PASSWORD_FILE": str(password),
                       "SCAIFLOW_DATABASE_URL": "mariadb://app:pw@db.lan/flows"})
    assert twice.value.problems == [
        "SCAIFLOW_DATABASE_URL: holds a password and SCAIFLOW_DATABASE_PASSWORD_FILE names one "
        "too: keep the password in the file only"]
    settings = load_settings({"SCAIFLOW_DATABASE_PASSWORD_FILE": str(password),
                              "SCAIFLOW_DATABASE_URL": "mariadb://app@/flows?unix_socket=/s"})
    assert settings.database_password_file == password
