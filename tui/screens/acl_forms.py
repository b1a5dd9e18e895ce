"""The forms of a flow's grants (SPEC §4): who gets which level; a grant's new level."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tui.screens.form import Field, FormError, FormScreen, one_of

LEVELS = ("view", "edit", "deploy", "admin")
PRINCIPAL_TYPES = ("user", "group")
LEVELS_HINT = ("Levels: view < edit < deploy < admin (each implies the lower ones). The "
               "principal must be in the appliance's mirror of the flow's tenant.")


@dataclass(frozen=True)
class AclRequest:
    principal_type: str
    principal_id: str
    level: str


class AclForm(FormScreen[AclRequest]):
    HINT = LEVELS_HINT
    SUBMIT_LABEL = "Grant"

    def __init__(self, flow_name: str) -> None:
        super().__init__()
        self.flow_name = flow_name

    def title_text(self) -> str:
        return f"Grant access to {self.flow_name}"

    def fields(self) -> list[Field]:
        return [Field("principal_type", "Who", "user or group", "user"),
                Field("principal_id", "Id", "e.g. usr_alice or grp_support"),
                Field("level", "Level", "view, edit, deploy or admin", "view")]

    def build(self, values: Mapping[str, str]) -> AclRequest:
        kind = one_of("principal_type", "Who", values["principal_type"], PRINCIPAL_TYPES)
        if not values["principal_id"]:
            raise FormError("principal_id", "Id: required.")
        return AclRequest(kind, values["principal_id"],
                          one_of("level", "Level", values["level"], LEVELS))


class AclLevelForm(FormScreen[str]):
    HINT = LEVELS_HINT
    SUBMIT_LABEL = "Change"

    def __init__(self, principal: str, level: str) -> None:
        super().__init__()
        self.principal = principal
        self.level = level

    def title_text(self) -> str:
        return f"Change the level of {self.principal} (now {self.level})"

    def fields(self) -> list[Field]:
        return [Field("level", "Level", "view, edit, deploy or admin", self.level)]

    def build(self, values: Mapping[str, str]) -> str:
        return one_of("level", "Level", values["level"], LEVELS)
