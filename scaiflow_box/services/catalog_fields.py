"""The catalog's request rules (SPEC §14), checked by the service whatever the caller: the
route's models say the same, and the CLI's import has no route."""

from __future__ import annotations

import re

from scaiflow_box.errors import InvalidFields, InvalidInput
from scaiflow_box.ids import is_plain_id
from scaiflow_box.packages.scaipkg import PACKAGE_ID_PATTERN, SEMVER_PATTERN

MAX_README_CHARS = 1_000_000
MAX_VISIBILITY_GROUPS = 100
# `/catalog/publish` and `/catalog/import` are operations: a package of either id could not be
# read or deleted through `/catalog/{package_id}`, so neither is a package id.
RESERVED_PACKAGE_IDS = frozenset({"publish", "import"})
OPEN_PACKAGE_ID_PATTERN = r"^(?!(?:publish|import)$)" + PACKAGE_ID_PATTERN[1:]
_PACKAGE_ID = re.compile(PACKAGE_ID_PATTERN.replace("^", r"\A").replace("$", r"\Z"))
_SEMVER = re.compile(SEMVER_PATTERN.replace("^", r"\A").replace("$", r"\Z"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_name(name: str, loc: str = "name") -> None:
    if not 1 <= len(name) <= 200 or _CONTROL.search(name) or not name.strip():
        raise field_error(loc, "must be 1-200 characters, not blank, without control "
                          "characters")


def field_error(loc: str, msg: str, kind: str = "value_error") -> InvalidFields:
    return InvalidFields([{"loc": ["body", loc], "msg": msg, "type": kind}])


def check_publish_fields(package_id: str, name: str, description: str | None,
                          version: str | None, readme: str | None) -> None:
    """The body's rules (the route's model says the same; the service does not rely on it)."""
    if not _PACKAGE_ID.match(package_id):
        raise field_error("package_id", "must be a lowercase slug: a-z, 0-9 and '-', 1-64 "
                          "characters, not starting with '-'", "string_pattern_mismatch")
    check_open_package_id(package_id, ["body", "package_id"])
    check_name(name)
    if description is not None and len(description) > 10_000:
        raise field_error("description", "must be at most 10,000 characters", "string_too_long")
    if version is not None and (len(version) > 64 or not _SEMVER.match(version)):
        raise field_error("version", "must be MAJOR.MINOR.PATCH", "string_pattern_mismatch")
    if readme is not None and len(readme) > MAX_README_CHARS:
        raise field_error("readme", f"must be at most {MAX_README_CHARS:,} characters",
                          "string_too_long")


def check_open_package_id(package_id: str, loc: list[str]) -> None:
    """422 for the ids that name catalog operations (publish, and import's package.json)."""
    if package_id in RESERVED_PACKAGE_IDS:
        raise InvalidFields([{"loc": loc, "msg": "`publish` and `import` name catalog "
                              "operations and cannot be package ids", "type": "value_error"}])


def check_visibility(visibility: str, group_ids: list[str]) -> None:
    """`tenant` with no groups, or `groups` with 1-100 group ids (whether they are live groups
    of the package's tenant is the write's check)."""
    if visibility == "tenant":
        if group_ids:
            raise InvalidInput("visibility `tenant` takes no visibility_group_ids",
                               code="invalid_visibility",
                               fix="Send an empty visibility_group_ids, or visibility `groups`.")
        return
    if visibility != "groups":
        raise InvalidFields([{"loc": ["body", "visibility"], "msg": "must be 'tenant' or "
                              "'groups'", "type": "literal_error"}])
    if not group_ids:
        raise InvalidInput("visibility `groups` needs at least one group",
                           code="invalid_visibility",
                           fix="Name one or more groups in visibility_group_ids.")
    if len(group_ids) > MAX_VISIBILITY_GROUPS:
        raise field_error("visibility_group_ids",
                          f"at most {MAX_VISIBILITY_GROUPS} groups", "too_long")
    bad = [i for i, g in enumerate(group_ids) if not is_plain_id(g)]
    if bad:
        raise InvalidFields([{"loc": ["body", "visibility_group_ids", i],
                              "msg": "must be a group id", "type": "value_error"} for i in bad])
