"""The domain's error codes as the API answers them: one `ErrorCode` per code, with its status
and, where the detail carries more than `error`, `message` and `fix`, those fields.

Routes declare the codes they answer (`Route.errors`); the document gives each its own schema
with `error` as a constant, so a generated client narrows on it (`detail.error ===
"version_conflict"` types `current_etag`). The transport's own codes (401, the body's
400/408/413/415/422, 414, `invalid_cursor`) are in `http/errors.py`, implied by a route's
shape. A code is raised in `services/`, `auth/` or `http/` (`code=...` or the class's
`default_code`); the dispatcher logs one that the answering route does not declare, and the
test suite fails on that line.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, WithJsonSchema

from scaiflow_box.api.fields import Diagnostic
from scaiflow_box.http.errors import ErrorCode, ErrorFields
from scaiflow_box.services.sign_in import OAUTH_ERROR_CODES

# A detail field that is absent rather than null when there is nothing to say.
AbsentInt = Annotated[int | None, WithJsonSchema({"type": "integer"})]
AbsentStr = Annotated[str | None, WithJsonSchema({"type": "string"})]


class VersionConflictFields(ErrorFields):
    current_version: str = Field(description="The flow's current version")
    current_etag: str = Field(description="The flow's current ETag: send it as If-Match")


class CompileErrorFields(ErrorFields):
    errors: list[Diagnostic] = Field(description="The error diagnostics (SPEC §5.2)")


class UnknownGroupsFields(ErrorFields):
    group_ids: list[str] = Field(description="The ids that are not live groups of the "
                                             "package's tenant in the directory mirror")


class OAuthErrorFields(ErrorFields):
    error_description: str | None = Field(
        default=None, description="ScaiKey's `error_description` (control characters "
                                  "dropped, at most 500 characters), null when it sent none")


class OtherOAuthErrorFields(OAuthErrorFields):
    oauth_error: str = Field(description="ScaiKey's own error code")


class UpstreamFields(ErrorFields):
    status: AbsentInt = Field(default=None, description="The upstream HTTP status")
    code: AbsentStr = Field(default=None, description="The upstream error code")


class RateLimitedFields(ErrorFields):
    upstream_code: AbsentStr = Field(default=None, description="ScaiGrid's error code")


class DeployFailedFields(UpstreamFields):
    deployment_id: AbsentStr = Field(
        default=None, description="The `failed` Deployment recorded for it (`POST "
                                  "/flows/{flow_id}/deploy`; not on `/dev/deploy`)")


class ScaiQueueFailedFields(DeployFailedFields):
    scope: str = Field(description="The ScaiQueue scope slug")
    queue: str | None = Field(description="The queue slug being provisioned (null: the scope)")


class PublishFailedFields(DeployFailedFields):
    core_id: str = Field(description="The core ScaiGrid created (it exists, unpublished)")


# -- 400 --------------------------------------------------------------------------------
INVALID_LEVEL = ErrorCode(400, "invalid_level", "`level` is not an ACL level")
INVALID_PRINCIPAL_TYPE = ErrorCode(400, "invalid_principal_type",
                                   "`principal_type` is neither `user` nor `group`")
OWNER_IS_IMPLICIT_ADMIN = ErrorCode(400, "owner_is_implicit_admin",
                                    "The flow's owner is an implicit admin; no ACL names them")
INVALID_ROLE = ErrorCode(400, "invalid_role", "Not an admin role")
INVALID_TOKEN_REQUEST = ErrorCode(400, "invalid_token_request",
                                  "The service token cannot be issued as asked")
UNSUPPORTED_FORMAT = ErrorCode(400, "unsupported_format", "A format the compiler does not emit")
IMPORT_FAILED = ErrorCode(400, "import_failed", "Not a ScaiCore YAML manifest")
COMPILE_ERROR = ErrorCode(400, "compile_error", "The flow version does not compile",
                          fields=CompileErrorFields)
INVALID_API_KEY = ErrorCode(400, "invalid_api_key", "The ScaiGrid API key is empty, too long "
                                                    "or not printable ASCII")
INVALID_BASE_URL = ErrorCode(400, "invalid_base_url",
                             "The ScaiGrid base URL is not http(s) with an allowed host")
INVALID_SIGNATURE = ErrorCode(400, "invalid_signature",
                              "The webhook's signature or timestamp does not verify")
INVALID_EVENT = ErrorCode(400, "invalid_event",
                          "A handled webhook event that does not name what it is about")
REDIRECT_URI_MISMATCH = ErrorCode(400, "redirect_uri_mismatch",
                                  "`redirect_uri` is not the configured one")
# The catalog (SPEC §14).
INVALID_PUBLISH = ErrorCode(400, "invalid_publish",
                            "A publish names neither or both of `flow_id` and `content`")
INVALID_VISIBILITY = ErrorCode(400, "invalid_visibility",
                               "`tenant` with groups, or `groups` without any")
UNKNOWN_GROUPS = ErrorCode(400, "unknown_groups",
                           "A group id is not a live group of the package's tenant (run a "
                           "directory sync if it is new)", fields=UnknownGroupsFields)
INVALID_ARCHIVE = ErrorCode(400, "invalid_archive",
                            "Not a readable zip archive, or a member encrypted, compressed "
                            "other than stored/deflate, or not the size its header says")
ARCHIVE_UNSAFE = ErrorCode(400, "archive_unsafe",
                           "A member name or kind the importer refuses (absolute, `..`, "
                           "backslash, link, directory, unknown or duplicate), or too many "
                           "members")
INVALID_PACKAGE = ErrorCode(400, "invalid_package",
                            "`package.json` or `flow.json` missing or not a JSON object, or "
                            "`README.md` not UTF-8")
PACKAGE_INTEGRITY = ErrorCode(400, "package_integrity",
                              "A member's sha256 or size differs from `package.json`, or a "
                              "member is unlisted or missing")
# ScaiKey's OAuth errors (RFC 6749 §5.2), passed on with ScaiKey's description.
OAUTH_ERRORS = tuple(
    ErrorCode(400, code, f"ScaiKey refused the grant: `{code}` (RFC 6749 §5.2)",
              fields=OAuthErrorFields)
    for code in OAUTH_ERROR_CODES)
SCAIKEY_REFUSED = ErrorCode(400, "scaikey_refused",
                            "ScaiKey refused the grant with a code RFC 6749 does not define "
                            "(`oauth_error`)", fields=OtherOAuthErrorFields)

# -- 403, 404, 409 ----------------------------------------------------------------------
MISSING_PERMISSION = ErrorCode(403, "missing_permission",
                               "The caller lacks `scaicore:view` or `scaicore:manage`")
FORBIDDEN = ErrorCode(403, "forbidden",
                      "Authenticated but not allowed (an ACL level or an admin role)")
LAST_SUPER_ADMIN = ErrorCode(409, "last_super_admin",
                             "The last super admin who can act cannot be removed or demoted: "
                             "nobody could administer the appliance afterwards")
SUBJECT_TAKEN = ErrorCode(409, "subject_taken",
                          "The subject is a ScaiKey user, or a local user of another tenant")
PRINCIPAL_NOT_FOUND = ErrorCode(404, "principal_not_found",
                                "The user or group is not in the local directory mirror")
ACL_EXISTS = ErrorCode(409, "acl_exists", "An ACL for that principal exists")
ROTATION_NOT_POSSIBLE = ErrorCode(409, "rotation_not_possible",
                                  "The master key cannot be rotated now")
PUBLISH_CONFLICT = ErrorCode(409, "publish_conflict",
                             "Concurrent publishes of the package kept taking the version; "
                             "publish again")

# -- 413 --------------------------------------------------------------------------------
ARCHIVE_TOO_LARGE = ErrorCode(413, "archive_too_large",
                              "The package is over a size limit: a member over 8 MiB or 100 "
                              "times its compressed size, or the package as the box stores it "
                              "(uncompressed) over 8 MiB")

# -- 412 --------------------------------------------------------------------------------
VERSION_CONFLICT = ErrorCode(412, "version_conflict",
                             "`If-Match` names a stale ETag; `current_etag` is the fresh one",
                             fields=VersionConflictFields)
MISSING_SCAIGRID_CREDENTIALS = ErrorCode(412, "missing_scaigrid_credentials",
                                         "No ScaiGrid credentials to deploy with")
MISSING_CREDENTIALS = ErrorCode(412, "missing_credentials",
                                "No ScaiGrid credentials for this tenant")

# -- 429, 502, 503 ----------------------------------------------------------------------
SCAIGRID_RATE_LIMITED = ErrorCode(429, "scaigrid_rate_limited",
                                  "ScaiGrid asked to slow down; its `Retry-After` is passed on",
                                  fields=RateLimitedFields)
SCAIGRID_UNREACHABLE = ErrorCode(502, "scaigrid_unreachable", "ScaiGrid could not be reached")
SCAIGRID_AUTH = ErrorCode(502, "scaigrid_auth", "ScaiGrid refused the credentials",
                          fields=UpstreamFields)
SCAIGRID_ERROR = ErrorCode(502, "scaigrid_error", "ScaiGrid answered an error",
                           fields=UpstreamFields)
SCAIQUEUE_AUTH = ErrorCode(502, "scaiqueue_auth", "ScaiQueue refused the credentials",
                           fields=ScaiQueueFailedFields)
SCAIQUEUE_PROVISION_FAILED = ErrorCode(502, "scaiqueue_provision_failed",
                                       "The ScaiQueue scope or a queue could not be provisioned",
                                       fields=ScaiQueueFailedFields)
SCAICORE_CREATE_FAILED = ErrorCode(502, "scaicore_create_failed",
                                   "ScaiGrid did not create the core", fields=DeployFailedFields)
SCAICORE_PUBLISH_FAILED = ErrorCode(502, "scaicore_publish_failed",
                                    "ScaiGrid created the core but did not publish it",
                                    fields=PublishFailedFields)
SCAIKEY_UNREACHABLE = ErrorCode(502, "scaikey_unreachable", "ScaiKey could not be reached")
SCAIKEY_ERROR = ErrorCode(502, "scaikey_error", "ScaiKey answered an error",
                          fields=UpstreamFields)
SCAIKEY_SYNC_FAILED = ErrorCode(502, "scaikey_sync_failed",
                                "Directory sync could not read ScaiKey; the mirror is unchanged")
CREDENTIALS_UNREADABLE = ErrorCode(503, "credentials_unreadable",
                                   "The tenant's stored ScaiGrid credentials do not decrypt")
SCAIGRID_NOT_CONFIGURED = ErrorCode(503, "scaigrid_not_configured",
                                    "No ScaiGrid base URL is configured")
SCAIKEY_NOT_CONFIGURED = ErrorCode(503, "scaikey_not_configured",
                                   "Sign-in through ScaiKey is not configured")
WEBHOOKS_NOT_CONFIGURED = ErrorCode(503, "webhooks_not_configured",
                                    "No webhook secret is configured")
DEV_TOKEN_NOT_CONFIGURED = ErrorCode(503, "dev_token_not_configured",
                                     "`SCAIFLOW_API_TOKEN` is not set")

# What every call to ScaiGrid on the caller's behalf can answer (SPEC §9).
SCAIGRID_CALL = (MISSING_CREDENTIALS, CREDENTIALS_UNREADABLE, SCAIGRID_NOT_CONFIGURED,
                 SCAIGRID_RATE_LIMITED, SCAIGRID_UNREACHABLE, SCAIGRID_AUTH, SCAIGRID_ERROR)
