"""`GET /api/v1/docs` (SPEC §16): the interactive API reference, served from Swagger UI assets
installed with the package (`swagger-ui-bundle-v2`), never from a CDN: an air-gapped box has
no internet. The page reads `/api/v1/openapi.json`.
"""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from typing import Annotated

from scaiflow_box.errors import NotFound
from scaiflow_box.http.call import Blob, Call, Reply, ok
from scaiflow_box.http.errors import NOT_FOUND
from scaiflow_box.http.route import Header, PathParam, Response, Route

TAG = "reference"

# Only the files the page uses (name -> content type); nothing else is served.
ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
    "init.js": "application/javascript",
}
PAGE = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>scaiflow-box API reference</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
"""
INIT = b"""window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: false,
  persistAuthorization: false
});
"""
# Swagger UI sets inline styles; scripts and everything else come from this server only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


def assets_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return Path(str(swagger_ui_path))


@cache
def _read_asset(name: str) -> bytes:
    if name == "init.js":
        return INIT
    return (assets_dir() / name).read_bytes()


# `/api/v1/docs/` would load the page's relative assets from `/api/v1/docs/docs/…`: it is sent
# to the page. The Location is relative, so the redirect survives a reverse proxy's prefix.
REDIRECT_LOCATION = "../docs"
REDIRECT_PAGE = b'<!doctype html>\n<a href="../docs">/api/v1/docs</a>\n'


async def api_reference_slash(call: Call[None, None]) -> Reply:
    return Reply(301, Blob(REDIRECT_PAGE, "text/html"),
                 {"Location": REDIRECT_LOCATION, "Cache-Control": "public, max-age=86400"})


async def api_reference(call: Call[None, None]) -> Reply:
    return ok(Blob(PAGE, "text/html"), headers={**SECURITY_HEADERS,
                                                "Cache-Control": "no-cache"})


AssetName = Annotated[str, PathParam("The asset's file name", r"^[A-Za-z0-9._-]+$",
                                     max_length=64)]


async def api_reference_asset(call: Call[None, None], asset: AssetName) -> Reply:
    content_type = ASSETS.get(asset)
    if content_type is None:
        raise NotFound("Not Found")
    # The bundle is 1.5 MB: read it once, off the event loop.
    data = await asyncio.get_running_loop().run_in_executor(None, _read_asset, asset)
    return ok(Blob(data, content_type), headers={**SECURITY_HEADERS,
                                                 "Cache-Control": "public, max-age=86400"})


ROUTES = [
    Route("GET", "/api/v1/docs", api_reference, "Interactive API reference (Swagger UI)", TAG,
          (Response(200, None, "An HTML page that reads /api/v1/openapi.json",
                    content_type="text/html"),), auth="public"),
    Route("GET", "/api/v1/docs/", api_reference_slash,
          "The API reference's address with a trailing slash: redirected", TAG,
          (Response(301, None, "Moved to /api/v1/docs", content_type="text/html",
                    headers=(Header("Location", "`../docs`, i.e. /api/v1/docs (relative, "
                                                "so it works behind a path prefix)",
                                    required=True),)),), auth="public"),
    Route("GET", "/api/v1/docs/{asset}", api_reference_asset,
          "A static asset of the API reference", TAG,
          (Response(200, None, "The asset", content_type="application/javascript",
                    other_media_types=("text/css", "image/png")),),
          errors=(NOT_FOUND,), auth="public"),
]
