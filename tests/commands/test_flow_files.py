"""`scaiflow-box validate` and `scaiflow-box compile`: offline, exit codes, streams, modes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaiflow_box.cli import build_parser
from scaiflow_box.commands.flow_files import compile_command, validate_command
from tests.compiler.builders import EXAMPLES, load_example

GOLDEN = Path(__file__).resolve().parents[1] / "compiler" / "golden"
REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, content: Any, name: str = "flow.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(content), encoding="utf-8")
    return str(path)


def invalid_flow() -> dict[str, Any]:
    content = load_example("hello-world")
    content["nodes"][0]["type"] = "llm_rigid"
    content["nodes"][0]["config"] = {"template": "x"}
    return content


def run_cli(*args: str, data_dir: Path, umask: int | None = None
            ) -> subprocess.CompletedProcess[str]:
    """The real executable, with a data dir that must never be created."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIFLOW_")}
    env["SCAIFLOW_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "scaiflow_box", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


def flow_with_a_warning() -> dict[str, Any]:
    content = load_example("hello-world")
    content["nodes"].append(
        {
            "id": "node_island",
            "type": "llm_rigid",
            "label": "Island",
            "position": {"x": 0, "y": 0},
            "config": {"template": "t"},
        }
    )
    return content


ISLAND_WARNING = (
    "warning: node 'node_island' is not reachable from any entry-point node ($.nodes[2])"
)


# -- through the real executable -------------------------------------------------------


def test_cli_validate_and_compile_offline(tmp_path: Path) -> None:
    example = str(EXAMPLES / "customer-support.flow.json")
    data_dir = tmp_path / "data"
    done = run_cli("validate", example, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{example}: valid (0 error(s), 0 warning(s))\n"
    done = run_cli("compile", example, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (GOLDEN / "customer-support.yaml").read_text(encoding="utf-8")
    assert not data_dir.exists()  # offline: no data dir, no database


def test_cli_validate_json_on_invalid_flow(tmp_path: Path) -> None:
    path = write(tmp_path, invalid_flow())
    done = run_cli("validate", path, "--json", data_dir=tmp_path / "data")
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["valid"] is False
    assert {
        "severity": "error",
        "message": "flow has no entry-point node",
        "path": "$.nodes",
        "node_id": None,
        "edge_id": None,
    } in body["diagnostics"]


def test_cli_validate_prints_only_the_verdict_on_stdout(tmp_path: Path) -> None:
    path = write(tmp_path, flow_with_a_warning())
    done = run_cli("validate", path, data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{path}: valid (0 error(s), 1 warning(s))\n"
    assert done.stderr == ISLAND_WARNING + "\n"
    bad = write(tmp_path, invalid_flow(), "bad.json")
    done = run_cli("validate", bad, data_dir=tmp_path / "data")
    assert done.returncode == 1
    assert done.stdout == f"{bad}: invalid (1 error(s), 0 warning(s))\n"
    assert done.stderr == "error: flow has no entry-point node ($.nodes)\n"
    # --json: the document alone on stdout, nothing on stderr
    done = run_cli("validate", path, "--json", data_dir=tmp_path / "data")
    assert done.returncode == 0 and done.stderr == ""
    assert [d["severity"] for d in json.loads(done.stdout)["diagnostics"]] == ["warning"]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)],
                         ids=["022", "027", "002"])
def test_cli_compile_out_gets_the_usual_mode(tmp_path: Path, umask: int, mode: int) -> None:
    out = tmp_path / "manifest.yaml"
    done = run_cli("compile", str(EXAMPLES / "hello-world.flow.json"), "--out", str(out),
                   data_dir=tmp_path / "data", umask=umask)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == f"wrote {out}\n"
    assert stat.S_IMODE(out.stat().st_mode) == mode
    assert out.read_text(encoding="utf-8") == (GOLDEN / "hello-world.yaml").read_text()
    # replacing an existing file is atomic and gives the same mode
    out.chmod(0o600)
    done = run_cli("compile", str(EXAMPLES / "hello-world.flow.json"), "--out", str(out),
                   data_dir=tmp_path / "data", umask=umask)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.yaml"]  # no temp left over


def test_cli_unsupported_format_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli(
        "compile",
        str(EXAMPLES / "hello-world.flow.json"),
        "--format",
        "ir",
        data_dir=tmp_path / "data",
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "error: format 'ir' is a proprietary ScaiCore format" in done.stderr


# -- the command functions -------------------------------------------------------------


def test_validate_human_output_lists_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, flow_with_a_warning())
    assert validate_command(path, False) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [ISLAND_WARNING]
    assert captured.out.splitlines() == [f"{path}: valid (0 error(s), 1 warning(s))"]
    path = write(tmp_path, invalid_flow(), "bad.json")
    assert validate_command(path, False) == 1
    captured = capsys.readouterr()
    assert "error: flow has no entry-point node ($.nodes)" in captured.err
    assert captured.out == f"{path}: invalid (1 error(s), 0 warning(s))\n"


def test_validate_json_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_command(str(EXAMPLES / "compute.flow.json"), True) == 0
    assert json.loads(capsys.readouterr().out) == {"valid": True, "diagnostics": []}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON: Expecting property name"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_unreadable_files_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes | None, message: str
) -> None:
    path = tmp_path / "flow.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    assert validate_command(str(path), False) == 1
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    assert validate_command(str(path), True) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["valid"] is False and message in body["diagnostics"][0]["message"]
    assert compile_command(str(path), "yaml", None) == 1
    assert message in capsys.readouterr().err


def test_flow_detail_files_are_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    detail = {
        "id": "flow_x",
        "name": "n",
        "version": "1.0.0",
        "content": load_example("hello-world"),
    }
    assert validate_command(write(tmp_path, detail), True) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True


def test_compile_to_stdout_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = str(EXAMPLES / "hello-world.flow.json")
    assert compile_command(example, "json", None) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == yaml.safe_load((GOLDEN / "hello-world.yaml").read_text())
    out = tmp_path / "sub" / "manifest.yaml"
    out.parent.mkdir()
    assert compile_command(example, "yaml", str(out)) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and f"wrote {out}" in captured.err
    assert out.read_text(encoding="utf-8") == (GOLDEN / "hello-world.yaml").read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["manifest.yaml"]  # no temp left over


def test_compile_errors_go_to_stderr_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "manifest.yaml"
    assert compile_command(write(tmp_path, invalid_flow()), "yaml", str(out)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: flow has no entry-point node ($.nodes)" in captured.err
    assert "1 compile error(s); nothing written" in captured.err
    assert not out.exists()


def test_unwritable_output_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = str(tmp_path / "missing-dir" / "m.yaml")
    assert compile_command(str(EXAMPLES / "hello-world.flow.json"), "yaml", target) == 1
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.parametrize(("fmt", "code"), [("ir", 2), ("scai", 2), ("toml", 2), ("JSON", 0)])
def test_format_exit_codes(fmt: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert compile_command(str(EXAMPLES / "hello-world.flow.json"), fmt, None) == code
    captured = capsys.readouterr()
    if code == 2:
        assert captured.out == "" and "fix: " in captured.err


def test_the_cli_parser_declares_both(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    example = str(EXAMPLES / "hello-world.flow.json")
    args = parser.parse_args(["validate", example, "--json", "--data-dir", "/nowhere"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    args = parser.parse_args(["compile", example, "--format", "json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["core"]["name"] == "hello-world"
