"""textual-serve's server, as ``tutor serve`` runs it: one tutor process per browser tab,
ended with its tab, and all of them ended with the server.

Imported only by ``tutor serve`` (textual-serve is the optional ``[web]`` extra). Checked
against textual-serve 1.1: ``Server.handle_websocket`` starts an ``AppService`` (the tab's
process, run through the shell) and stops it when the socket closes.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

QUIT_WAIT = 10.0  # seconds a tab's tutor has to quit before it is killed


class TabService(AppService):
    """One tab's tutor. Stopping it waits until the process has exited (and kills it if it
    will not quit), and a tutor that ends by itself (q, or a crash) closes its tab's socket,
    so the page says the session ended."""

    async def run(self) -> None:
        await super().run()
        await self.remote_close()

    async def stop(self) -> None:
        await super().stop()
        process = self._process  # textual-serve's handle on the tab's process
        if process is None or process.returncode is not None:
            return
        try:
            await asyncio.wait_for(process.wait(), QUIT_WAIT)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()


class TutorServer(Server):
    """textual-serve's ``Server`` with: one line on start instead of a logo; warnings only
    (no line per request); pages that reach back to the address the browser used
    (textual-serve writes its own host into them, and 0.0.0.0 is no address a browser can
    use); and on shutdown every tab's tutor ended before the server exits."""

    def __init__(self, command: str, host: str, port: int, title: str, announce: str):
        super().__init__(command, host=host, port=port, title=title)
        self.announce = announce
        self.tabs: set[asyncio.Task] = set()

    def initialize_logging(self) -> None:
        logging.basicConfig(level=logging.WARNING, format="tutor serve: %(message)s")

    async def on_startup(self, app: web.Application) -> None:
        print(self.announce, flush=True)

    async def on_shutdown(self, app: web.Application) -> None:
        tabs = list(self.tabs)
        for tab in tabs:
            tab.cancel()
        if tabs:
            await asyncio.wait(tabs)

    async def handle_index(self, request: web.Request):
        # Nothing awaits between setting the address and the page being filled in with it.
        self.public_url = f"{request.scheme}://{request.host}"
        return await super().handle_index(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's handler, with a ``TabService`` and the tab's task remembered."""
        tab = asyncio.current_task()
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        service: TabService | None = None
        self.tabs.add(tab)
        try:
            await websocket.prepare(request)
            service = TabService(self.command, write_bytes=websocket.send_bytes,
                                 write_str=websocket.send_str, close=websocket.close,
                                 download_manager=self.download_manager, debug=self.debug)
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            pass
        finally:
            if service is not None:
                await service.stop()
            await websocket.close()
            self.tabs.discard(tab)
        return websocket
