"""Who is calling: the verified token joined with the appliance's user row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from scaiflow_box.errors import Forbidden, MissingPermission

VIEW = "scaicore:view"
MANAGE = "scaicore:manage"
TokenSource = Literal["scaikey", "service"]


def effective_permissions(scopes: frozenset[str], default: frozenset[str]) -> frozenset[str]:
    """SPEC §2.2: any `scaicore:*` scope → exactly those; otherwise the tenant default.
    `manage` implies `view`."""
    granted = frozenset(s for s in scopes if s.startswith("scaicore:"))
    if not granted:
        granted = default
    if MANAGE in granted:
        granted = granted | {VIEW}
    return granted


@dataclass(frozen=True)
class Principal:
    sub: str
    tenant_id: str
    email: str | None
    display_name: str | None
    permissions: frozenset[str]
    admin_role: str | None
    admin_role_source: str | None
    token_source: TokenSource
    token: str = field(repr=False, default="")

    @property
    def is_super_admin(self) -> bool:
        return self.admin_role == "super_admin"

    @property
    def is_tenant_admin(self) -> bool:
        """Tenant-wide powers in the caller's own tenant (super admins have them too)."""
        return self.admin_role in ("tenant_admin", "super_admin")

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise MissingPermission(permission)

    def require_view(self) -> None:
        self.require(VIEW)

    def require_manage(self) -> None:
        self.require(MANAGE)

    def require_super_admin(self) -> None:
        if not self.is_super_admin:
            raise Forbidden("this action needs the super_admin role",
                            fix="Ask a super admin, or run `scaiflow-box admin grant` on the box.")

    def require_tenant_admin(self) -> None:
        if not self.is_tenant_admin:
            raise Forbidden("this action needs the tenant_admin or super_admin role")
