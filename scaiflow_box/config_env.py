"""Where settings come from: the process environment over an env file (`SCAIFLOW_ENV_FILE`,
else `./.env`; `SCAIFLOW_ENV_FILE=` empty reads none). Each value remembers its origin, so
`scaiflow-box config` can say where it came from."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENVIRONMENT = "environment"


class ConfigError(Exception):
    """Raised with every configuration problem found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Environment:
    values: dict[str, str]
    origins: dict[str, str] = field(default_factory=dict)  # name -> "environment" | "env file P"
    env_file: Path | None = None  # the env file that was read, if any


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, optional `export `, optional matching quotes."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def read_environment(environ: Mapping[str, str] | None = None) -> Environment:
    """The env file under the real environment, which wins; raises ConfigError when a named
    env file does not exist."""
    env = dict(os.environ if environ is None else environ)
    env_file = env.get("SCAIFLOW_ENV_FILE")
    if env_file == "":  # explicitly none (the systemd unit, tests, hermetic runs)
        return Environment(env, dict.fromkeys(env, ENVIRONMENT))
    candidate = Path(env_file) if env_file else Path(".env")
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    read: Path | None = None
    if candidate.is_file():
        values = read_env_file(candidate)
        read = candidate
        origins = dict.fromkeys(values, f"env file {candidate}")
    elif env_file:
        raise ConfigError([f"SCAIFLOW_ENV_FILE: file not found: {env_file}"])
    values.update(env)
    origins.update(dict.fromkeys(env, ENVIRONMENT))
    return Environment(values, origins, read)


def gather_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The merged values of `read_environment` (the env file under the real environment)."""
    return read_environment(environ).values
