"""`scaiflow-box config`: the effective settings, secrets masked, with where each came from
(the default, the environment, the env file or the command line).

Needs no data directory and loads nothing but the settings table, so it can be run before
`init`, next to a broken configuration (each problem is listed after the table, exit 1), and
on a box whose server will not start.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scaiflow_box.config import (
    Evaluation,
    evaluate,
    settings_markdown,
    settings_table,
)
from scaiflow_box.config_env import ConfigError


def _rows(evaluation: Evaluation) -> list[dict[str, Any]]:
    rows = []
    for row in settings_table():
        value = evaluation.values[row.field_name]
        invalid = row.env in evaluation.invalid
        if invalid:  # the text as given (masked): its value is unknowable
            shown: str | None = "********" if row.secret \
                else row.kind.masked(evaluation.given[row.env])
        else:
            shown = None if value is None else row.render(value) or None  # () is unset too
        default = row.doc_default.strip("`") if row.doc_default else row.default
        rows.append({"name": row.env, "value": shown, "source": evaluation.sources[row.field_name],
                     "secret": row.secret, "invalid": invalid, "default": default or None})
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    def shown(row: dict[str, Any]) -> str:
        if row["invalid"]:
            return f"{row['value']} (invalid)"
        if row["value"] is None:
            return f"- (default: {row['default']})" if row["default"] else "-"
        return str(row["value"])

    width = max(len(r["name"]) for r in rows)
    value_width = min(max(len(shown(r)) for r in rows), 48)  # longer values push SOURCE right
    lines = [f"{'SETTING':<{width}}  {'VALUE':<{value_width}}  SOURCE"]
    lines += [f"{r['name']:<{width}}  {shown(r):<{value_width}}  {r['source']}" for r in rows]
    return "\n".join(lines)


def cmd_config(args: argparse.Namespace) -> int:
    if args.markdown:
        print(settings_markdown(), end="")
        return 0
    data_dir = getattr(args, "data_dir", None)
    try:
        evaluation = evaluate(None, {"data_dir": Path(data_dir) if data_dir else None})
    except ConfigError as exc:  # SCAIFLOW_ENV_FILE names a file that is not there
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 1
    rows = _rows(evaluation)
    env_file = evaluation.environment.env_file
    if args.json:
        print(json.dumps({"env_file": str(env_file) if env_file else None, "settings": rows,
                          "problems": evaluation.problems}, indent=2))
    else:
        print(f"env file: {env_file if env_file else 'none read'}")
        print(_table(rows))
    for problem in evaluation.problems:
        print(f"config error: {problem}", file=sys.stderr)
    return 1 if evaluation.problems else 0
