"""OpenAPI 3.1 document built from the route table, so it cannot miss a route."""

from __future__ import annotations

import re
from typing import Any

from scaiflow_box import __version__
from scaiflow_box.http.routes import Route

_PARAM = re.compile(r"\{([a-z_]+)\}")

_ERROR = {
    "description": "Error in the `{\"detail\": ...}` shape",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def build_openapi(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.method.lower()}_{route.handler.__name__}",
            "tags": list(route.tags) or [route.handler.__module__.rsplit(".", 1)[-1]],
            "responses": {
                "200": {"description": "OK"},
                "4XX": _ERROR,
            },
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(route.path)
        ]
        if params:
            operation["parameters"] = params
        if route.auth == "token":
            operation["security"] = [{"bearer": []}]
            if route.needs:
                operation["description"] = f"Needs: {route.needs}."
        elif route.auth == "dev_token":
            operation["security"] = [{"bearer": []}]
            operation["description"] = "Only the dev token (SCAIFLOW_API_TOKEN)."
        else:
            operation["security"] = []
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "scaiflow-box", "version": __version__,
                 "description": "The ScaiFlow backend API served by the scaiflow-box appliance."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
            "schemas": {
                "Error": {"type": "object", "required": ["detail"],
                          "properties": {"detail": {}}},
            },
        },
        "security": [{"bearer": []}],
    }
