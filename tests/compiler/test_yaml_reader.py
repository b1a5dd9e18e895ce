"""The importer's reader of the compiler's own YAML dialect: what it accepts it reads exactly
as PyYAML does (also checked for every document the writer's property tests produce, in
test_yaml_writer.py); everything else it leaves to PyYAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scaiflow_box.compiler.emit_yaml import compile_flow
from scaiflow_box.compiler.errors import ImportFailed
from scaiflow_box.compiler.importer import import_manifest, load_yaml
from scaiflow_box.compiler.yaml_reader import MAX_DEPTH, NotOurDialect, read_yaml
from scaiflow_box.compiler.yaml_writer import dump_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "scaiflow_box" / "examples"


def manifests() -> list[str]:
    return [compile_flow(json.loads(path.read_text()), "yaml").body or ""
            for path in sorted(EXAMPLES.glob("*.flow.json"))]


@pytest.mark.parametrize("index", range(3))
def test_the_compilers_manifests_are_read_without_pyyaml(index: int) -> None:
    manifest = manifests()[index]
    assert read_yaml(manifest) == yaml.safe_load(manifest)


def test_literal_blocks_flow_collections_and_quoted_keys() -> None:
    data = {"text": "two\nlines\n", "strip": "a\n\nb", "pos": {"x": 0, "y": -1.5},
            "list": ["a b", 1, None, True, "yes"], "nested": [[1, [2]], {"k": []}],
            "empty": {}, "é": "ünïcode ✓", "q": 'say "hi"'}
    document = dump_yaml(data)
    assert read_yaml(document) == data == yaml.safe_load(document)


NOT_OURS = [
    "a: &x 1\nb: *x\n",  # anchors and aliases
    "a: !!python/object:os.system ls\n",  # tags
    "a: !custom 1\n",
    "<<: {a: 1}\nb: 2\n",  # merge keys
    "a: yes\n", "a: On\n", "a: ~\n", "a: NULL\n", "a: True\n",  # YAML 1.1 words
    "a: 0o17\n", "a: 017\n", "a: 0x1F\n", "a: 1_000\n", "a: 1:30\n", "a: .5\n",  # numbers
    "a: .inf\n", "a: .nan\n", "a: 1e5\n", "a: 2024-01-01\n",
    "a: 1 # comment\n", "# comment\na: 1\n",  # comments
    "a:\tb\n", "a: b\r\n",  # tabs, carriage returns
    "a: 1\na: 2\n",  # duplicate keys (PyYAML keeps the last)
    "a: 1\n\nb: 2\n",  # blank lines
    "a: [1, [2]]\n", "a: {b: {c: 1}}\n",  # nested flow collections
    "? a\n: 1\n", "--- a\n", "a: 1\n...\n", "%YAML 1.1\n---\na: 1\n",
    "a:\n   b: 1\n", "a:\nb: 1\n", "a:\n- 1\n",  # indentation not the writer's
    "a: b\n  c\n",  # a folded plain scalar
    "a: \"x\\ud83d\\ude00\"\n",  # escaped surrogates (JSON pairs them, YAML does not)
    "a: \"\\x41\"\n", "a: 'single'\n",  # escapes and quotes JSON does not have
    "a: x\u0085y\n", "a: \u2028\n", "\ufeffa: 1\n",  # characters YAML treats apart
    "a: >\n  folded\n",  # folded blocks
    "a: |2\n   x\n",  # indentation indicators
    "a: 1",  # no final newline
    "just a scalar\n", "[1, 2]\n",
    "a: \n", "- \n", "a:\n  - \n", "a:\n  - b: \n",  # empty values (null in YAML)
    "a: {b: 1,c: 2}\n", "a: [x ,y]\n", "a: {b}\n", "a: {b: }\n",  # flow spacing
]


# Short collections laid out otherwise than the writer does, which the reader still takes.
OTHER_SPACING = ["a: {b: 1 , c: 2}\n", "a: { b: 1}\n", "a: {b: 1, }\n", "a: [1, ]\n",
                 'a: {"b, c": "d: e", f: "g, h"}\n', 'a: ["x, y", z]\n']


@pytest.mark.parametrize("document", OTHER_SPACING)
def test_short_collections_in_another_layout_read_as_pyyaml_reads_them(document: str) -> None:
    assert read_yaml(document) == yaml.safe_load(document)


@pytest.mark.parametrize("document", NOT_OURS)
def test_anything_else_is_left_to_pyyaml(document: str) -> None:
    with pytest.raises(NotOurDialect):
        read_yaml(document)


def test_the_importer_gives_pyyaml_the_last_word() -> None:
    assert load_yaml("a: yes\nb: ~\n") == {"a": True, "b": None}
    assert load_yaml("a: \nb:\n  - \n") == {"a": None, "b": [None]}
    assert load_yaml("a: {b: 1 , c: 2}\n") == {"a": {"b": 1, "c": 2}}
    assert load_yaml("a: 1\na: 2\n") == {"a": 2}
    with pytest.raises(ImportFailed):
        load_yaml("a: !!python/object:os.system ls\n")
    with pytest.raises(ImportFailed):
        load_yaml("a: &x [*x]\n")


def test_depth_is_bounded_like_the_importer() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = {"k": deep}
    document = dump_yaml(deep)
    with pytest.raises(NotOurDialect):
        read_yaml(document)
    with pytest.raises(ImportFailed):
        load_yaml(document)


def test_a_big_manifest_imports_the_same_through_both_readers() -> None:
    flow = json.loads((EXAMPLES / "customer-support.flow.json").read_text())
    manifest = compile_flow(flow, "yaml").body or ""
    content, warnings = import_manifest(manifest)
    assert content == flow and warnings == []
    assert read_yaml(manifest) == yaml.load(manifest, Loader=yaml.CSafeLoader)


# What the writer writes, then one edit of the kind a hand-edited manifest holds: a character
# put in, taken out or changed. The reader reads the result as PyYAML does, or leaves it.
_EDITS = list(' \n,:-"{}[]|#y0.e')
_DOCUMENTS = [
    'core:\n  name: demo\n  tags: [a, b c, "x, y"]\n  pos: {x: 1, "y": -2.5, z: "a: b"}\n'
    "  steps:\n    - {to: b, edge: e1, when: \"n == 'q'\"}\n    - llm: Say hi.\n"
    "      meta:\n        node_id: n1\n        inputs: []\n        config: {}\n"
    "      text: |\n        two\n        lines\n    - - 1\n      - [2]\n",
    dump_yaml({"k": [{"a": 1, "b": [True, None, "x y"]}, {"p": {"x": 0, "y": 1}}],
               "e": {}, "l": "one\ntwo\n"}),
]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_DOCUMENTS), st.data())
def test_an_edited_manifest_is_read_as_pyyaml_reads_it_or_left_to_it(
        document: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(document)))
    kind = data.draw(st.sampled_from(["insert", "delete", "replace"]))
    char = data.draw(st.sampled_from(_EDITS))
    tail = document[at + 1:] if kind != "insert" else document[at:]
    edited = document[:at] + ("" if kind == "delete" else char) + tail
    try:
        expected = yaml.load(edited, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        with pytest.raises(NotOurDialect):
            read_yaml(edited)
        return
    try:
        ours = read_yaml(edited)
    except NotOurDialect:
        return
    assert ours == expected and type(ours) is type(expected), edited
