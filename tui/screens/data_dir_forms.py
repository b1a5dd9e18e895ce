"""The forms in front of the data-directory tools: what file, which issuer, which user."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from tui.screens.form import Field, FormError, FormScreen, existing_file, new_file, one_of

ROLES = ("super_admin", "tenant_admin")


@dataclass(frozen=True)
class JwksImportRequest:
    path: str
    issuer: str | None


@dataclass(frozen=True)
class RoleGrant:
    user: str
    role: str


class JwksImportForm(FormScreen[JwksImportRequest]):
    TITLE_TEXT = "Import a JWKS file (ScaiKey's signing keys)"
    HINT = ("The file ScaiKey's jwks_uri serves, carried over. Issuer: the exact `iss` of the "
            "tokens (empty: SCAIKEY_ISSUER). Runs `scaiflow-box jwks import` on the data "
            "directory; a running server uses the keys from its next start.")
    SUBMIT_LABEL = "Import"

    def __init__(self, issuer: str = "") -> None:
        super().__init__()
        self.issuer = issuer

    def fields(self) -> list[Field]:
        return [Field("file", "JWKS file", "e.g. ~/jwks.json"),
                Field("issuer", "Issuer", "e.g. https://scaikey.example/api/v1/platform/oauth",
                      self.issuer)]

    def build(self, values: Mapping[str, str]) -> JwksImportRequest:
        return JwksImportRequest(existing_file("file", values["file"]),
                                 values["issuer"] or None)


class BackupForm(FormScreen[str]):
    TITLE_TEXT = "Back up the database"
    HINT = ("A consistent copy, also while the server runs (`scaiflow-box backup`). Secrets "
            "stay encrypted in it: keep master.key with it, separately.")
    SUBMIT_LABEL = "Back up"

    def fields(self) -> list[Field]:
        return [Field("file", "Backup file", "a new file, e.g. /var/backups/scaiflow.db")]

    def build(self, values: Mapping[str, str]) -> str:
        return new_file("file", values["file"])


class RestoreForm(FormScreen[str]):
    TITLE_TEXT = "Restore the database from a backup"
    HINT = ("The server must be stopped, and master.key must be the one the backup was made "
            "with (`scaiflow-box restore`). The replaced database is kept aside. Type RESTORE "
            "to confirm.")
    SUBMIT_LABEL = "Restore"
    CONFIRM: ClassVar[str] = "RESTORE"

    def fields(self) -> list[Field]:
        return [Field("file", "Backup file", "a file made by backup"),
                Field("confirm", "Confirm", "type RESTORE")]

    def build(self, values: Mapping[str, str]) -> str:
        path = existing_file("file", values["file"])
        if values["confirm"] != self.CONFIRM:
            raise FormError("confirm", "Confirm: type RESTORE to replace the database.")
        return path


class GrantAdminForm(FormScreen[RoleGrant]):
    TITLE_TEXT = "Grant an admin role"
    HINT = ("By user id or e-mail (`scaiflow-box admin grant`), with the server up or down: "
            "the way back in when no super admin is left.")
    SUBMIT_LABEL = "Grant"

    def fields(self) -> list[Field]:
        return [Field("user", "User", "e-mail or id, e.g. usr_operator"),
                Field("role", "Role", "super_admin or tenant_admin", "super_admin")]

    def build(self, values: Mapping[str, str]) -> RoleGrant:
        if not values["user"]:
            raise FormError("user", "User: required.")
        return RoleGrant(values["user"], one_of("role", "Role", values["role"], ROLES))
