"""The areas of the console, in the order of their keys: the nav bar, the command palette and
`?` all read this one table.

The keys 1-6 keep the meaning they had before the console grew (1 the overview, now the
Dashboard; 2 users; 3 service tokens, now Security; 4 audit; 5 tenants; 6 flows), so an
operator's habits and scripts driving the TUI keep working; the new areas follow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    key: str
    mode: str
    title: str
    short: str  # in the nav bar of a narrow terminal
    summary: str


AREAS: tuple[Area, ...] = (
    Area("1", "dashboard", "Dashboard", "Dash",
         "Version, uptime, readiness, traffic, issuers, last sync, live editors, warnings"),
    Area("2", "users", "Users & groups", "Users",
         "Users and groups mirrored from ScaiKey, admin roles, sync now"),
    Area("3", "security", "Security", "Security",
         "Service tokens, the master key, token issuers and JWKS import"),
    Area("4", "audit", "Audit", "Audit", "Who changed what, filtered by action, actor, "
         "tenant and time"),
    Area("5", "tenants", "Tenants", "Tenants",
         "Tenants and their ScaiGrid credentials, with a test of the key"),
    Area("6", "flows", "Flows", "Flows",
         "Flows of any tenant: content, versions and diffs, grants, validate, deploy"),
    Area("7", "catalog", "Catalog", "Catalog",
         "Packages with their versions; export and import .scaipkg files"),
    Area("8", "logs", "Logs", "Logs", "The appliance's recent log lines, followed live"),
    Area("9", "datadir", "Data directory", "Data",
         "Backup, restore, key rotation, JWKS import, admin grant: with the server down too"),
)

BY_MODE = {area.mode: area for area in AREAS}
