"""The one table of every route the appliance serves, assembled from the routers.

Order matters where paths overlap: aiohttp matches in registration order, so the preview
routes (`/flows/validate`, `/flows/compile`, `/flows/import`) come before `/flows/{flow_id}`,
and `/catalog/publish` and `/catalog/import` before `/catalog/{package_id}` (api/catalog.py).
A test holds this table, the router modules and the OpenAPI document equal.
"""

from __future__ import annotations

from scaiflow_box.api import (
    acls,
    admin,
    auth,
    catalog,
    deploy,
    directory,
    flows,
    keys,
    live_sync,
    lookups,
    metrics,
    ops,
    presence,
    preview,
    reference,
    scaicore,
    system,
    tenants,
    webhooks,
)
from scaiflow_box.http.route import Route

ROUTERS = (ops, metrics, reference, auth, preview, deploy, flows, acls, presence, live_sync, admin,
           directory, keys, system, tenants, lookups, scaicore, webhooks, catalog)


def all_routes() -> list[Route]:
    return [route for router in ROUTERS for route in router.ROUTES]
