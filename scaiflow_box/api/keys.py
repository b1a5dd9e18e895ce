"""The master key from the API [box] (the TUI's Security screen uses both):
`GET /api/v1/admin/keys` lists the current and the retired master keys with the backups made
under each, as `scaiflow-box keys list` does; `POST /api/v1/admin/keys/rotate` rotates it, the
same as `scaiflow-box keys rotate [--reencrypt]` (SPEC §19.2, §20). Ids and paths only: never
a key."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from scaiflow_box.api.error_codes import (
    FORBIDDEN,
    ROTATION_NOT_POSSIBLE,
)
from scaiflow_box.api.examples import key_rotation_example, master_key_list_example
from scaiflow_box.api.fields import Timestamp
from scaiflow_box.http.call import Call, Reply, ok
from scaiflow_box.http.route import RequestModel, Response, Route
from scaiflow_box.keys import KEY_RETENTION, KEY_ROTATION
from scaiflow_box.services.key_retention import ListedKey

TAG = "admin"


class KeyRotationRequest(RequestModel):
    reencrypt: bool = Field(default=False, strict=True,
                            description="Also replace every tenant's data key and re-encrypt "
                                        "every secret")


class KeyRotationResult(BaseModel):
    kek_id: str = Field(description="Id of the new master key (a hash; not the key)")
    data_keys: int = Field(description="Data keys now wrapped by the new master key")
    issuer_keys: int = Field(description="Issuer signing keys now wrapped by it")
    secrets_reencrypted: int = Field(description="Secrets re-encrypted (0 without reencrypt)")


async def rotate_master_key(call: Call[KeyRotationRequest, None]) -> Reply:
    report = await call.app[KEY_ROTATION].rotate(call.principal, reencrypt=call.body.reencrypt,
                                                 request_id=call.request_id)
    return ok(KeyRotationResult(kek_id=report.kek_id, data_keys=report.data_keys,
                                issuer_keys=report.issuer_keys,
                                secrets_reencrypted=report.secrets_reencrypted))


KekId = Field(description="The key's id: a hash of the key, never the key",
              examples=["3f9c2a8d1e07"])


class KeyBackup(BaseModel):
    file: str = Field(description="Where `scaiflow-box backup` wrote it (absolute path)")
    made_at: Timestamp
    kind: Literal["backup", "before_restore"] = Field(
        description="`backup`: made by `scaiflow-box backup`; `before_restore`: the database "
                    "a restore replaced, kept aside")
    on_disk: bool = Field(description="A file is still at that path (it may have been moved)")


class KeyBackups(BaseModel):
    recorded: int = Field(description="Backups recorded under this key")
    on_disk: int = Field(description="Of those, the ones still at their path (the BACKUPS "
                                     "column of `scaiflow-box keys list`)")
    newest_at: Timestamp | None = Field(description="When the newest recorded one was made")
    items: list[KeyBackup] = Field(description="Every recorded backup, oldest first")


class MasterKeyInfo(BaseModel):
    kek_id: str = KekId
    state: Literal["current", "retired"] = Field(
        description="`current` wraps the data keys now; `retired`: kept so that backups "
                    "taken before a rotation still restore")
    where: str = Field(description="The key file, or `SCAIFLOW_MASTER_KEY` for a current key "
                                   "from the environment")
    retired_at: Timestamp | None = Field(description="When a rotation retired it (the file's "
                                                     "time); null for the current key")
    problem: str | None = Field(description="Why a retired key file cannot be used (open to "
                                            "others, unreadable, another key than its name)")
    backups: KeyBackups


class MasterKeyList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [master_key_list_example()]})

    source: Literal["file", "environment"] = Field(
        description="Where the current key comes from; a key from SCAIFLOW_MASTER_KEY is never "
                    "written to disk, so nothing retires it")
    items: list[MasterKeyInfo] = Field(description="The current key, then the retired ones, "
                                                   "oldest first")


def key_info(listed: ListedKey) -> MasterKeyInfo:
    entry = listed.entry
    backups = [KeyBackup(file=b.file, made_at=b.made_at, kind=b.kind, on_disk=there)
               for b, there in zip(entry.backups, listed.on_disk, strict=True)]
    return MasterKeyInfo(
        kek_id=entry.kek_id, state=entry.status, where=entry.where,
        retired_at=entry.retired_at, problem=entry.problem,
        backups=KeyBackups(recorded=len(backups), on_disk=sum(listed.on_disk),
                           newest_at=max((b.made_at for b in backups), default=None),
                           items=backups))


async def list_master_keys(call: Call[None, None]) -> Reply:
    service = call.app[KEY_RETENTION]
    listed = await service.list_keys(call.principal)
    return ok(MasterKeyList(source="environment" if service.keyring.source.from_env
                            else "file", items=[key_info(k) for k in listed]))


ROUTES = [
    Route("GET", "/api/v1/admin/keys", list_master_keys,
          "The master key and the retired ones, with the backups made under each", TAG,
          (Response(200, MasterKeyList, "Ids, files and backup records; never a key"),),
          errors=(FORBIDDEN,), needs="super_admin",
          description="What `scaiflow-box keys list` shows. A rotation keeps the key it "
                      "replaces beside `master.key` so that backups taken before it still "
                      "restore; `scaiflow-box keys prune KEK_ID` removes one. The backups are "
                      "those `scaiflow-box backup` made (and the databases `restore` kept "
                      "aside); copies made otherwise are not known here."),
    Route("POST", "/api/v1/admin/keys/rotate", rotate_master_key,
          "Rotate the master key (re-wrap every data key)", TAG,
          (Response(200, KeyRotationResult, "Rotated; back up the new master.key now"),),
          errors=(FORBIDDEN, ROTATION_NOT_POSSIBLE), needs="super_admin",
          description="A new master key wraps every data key and the issuer keys, in one "
                      "transaction; `master.key` is replaced crash-safely. 409 "
                      "`rotation_not_possible` when the key comes from SCAIFLOW_MASTER_KEY "
                      "(use `scaiflow-box keys rotate`), or, on MariaDB, while other "
                      "processes sharing the database are running (the detail says how many).",
          body=KeyRotationRequest, body_example=key_rotation_example),
]
