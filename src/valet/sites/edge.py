# pyright: strict
"""Edge cases: dialogs, redirect loop, real 404, downloads, slow responses, popups.

`/edge/blob?size=N&length=1|0` serves a file of N zero bytes (at most `MAX_BLOB_BYTES`), with a
`Content-Length` (`length=1`, the default) or chunked without one (`length=0`); `HEAD` too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse

from .web import SiteContext

MAX_SLOW_MS = 10_000
MAX_BLOB_BYTES = 20_000_000

CSV_BODY = (
    "order_id,date,customer,item,quantity,total\n"
    "VL-100231,2024-11-02,Dana Demo,65 W GaN USB-C Charger,1,44.99\n"
    "VL-100874,2025-01-19,Dana Demo,Braided USB-C Cable 2 m,2,25.98\n"
    "VL-100874,2025-01-19,Dana Demo,Slim Power Bank 10000 mAh,1,29.99\n"
)


def build_edge_router(ctx: SiteContext) -> APIRouter:
    router = APIRouter(prefix="/edge")

    @router.get("")
    def edge_index(request: Request) -> Response:
        return ctx.render(request, "edge/index.html", {"title": "Edge cases"})

    @router.get("/dialog-loop")
    def dialog_loop(request: Request) -> Response:
        return ctx.render(request, "edge/dialogs.html", {"title": "Dialogs"})

    @router.get("/redirect-loop")
    def redirect_loop(n: int = 0) -> Response:
        return RedirectResponse(f"/edge/redirect-loop?n={n + 1}", status_code=302)

    @router.get("/404")
    def not_found(request: Request) -> Response:
        return ctx.render(request, "404.html", {"title": "Page not found"}, status_code=404)

    @router.get("/download")
    def download(request: Request) -> Response:
        return ctx.render(request, "edge/download.html", {"title": "Download your data"})

    @router.get("/file.csv")
    def file_csv() -> Response:
        return PlainTextResponse(
            CSV_BODY,
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="voltline-orders.csv"'},
        )

    @router.api_route("/blob", methods=["GET", "HEAD"])
    def blob(size: int = 1000, length: int = 1) -> Response:
        size = max(0, min(size, MAX_BLOB_BYTES))
        headers = {"Content-Disposition": f'attachment; filename="blob-{size}.bin"'}
        if length:
            return Response(bytes(size), media_type="application/octet-stream", headers=headers)

        def chunks() -> Iterator[bytes]:
            for start in range(0, size, 65536):
                yield bytes(min(65536, size - start))

        return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)

    @router.get("/slow")
    async def slow(request: Request, ms: int = 2000) -> Response:
        delay = max(0, min(ms, MAX_SLOW_MS))
        await asyncio.sleep(delay / 1000)
        return ctx.render(request, "edge/slow.html", {"title": "Slow page", "delay": delay})

    @router.get("/popup")
    def popup(request: Request) -> Response:
        return ctx.render(request, "edge/popup.html", {"title": "Popups & new tabs"})

    @router.get("/popup/target")
    def popup_target(request: Request) -> Response:
        return ctx.render(request, "edge/popup_target.html", {"title": "Opened in a new tab"})

    return router
