"""The ceiling: a bare aiohttp endpoint that returns a JSON document held in memory.

No middlewares, no auth, no database, no serialization per request: what aiohttp itself costs
for a ~1.8 KB JSON response. bench/run.py serves it the exact bytes the appliance answers to
`GET /api/v1/flows/{id}`, so both put the same document on the wire.

    python -m bench.ceiling --port 8100 --body doc.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import web

DOC_PATH = "/doc"


def create_ceiling_app(body: bytes) -> web.Application:
    async def document(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    app = web.Application()
    app.router.add_get(DOC_PATH, document)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="file with the JSON document")
    args = parser.parse_args()
    app = create_ceiling_app(args.body.read_bytes())
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None,
                backlog=1024)


if __name__ == "__main__":
    main()
