"""A small asyncio TCP proxy for fault tests: it forwards to Redis, and on command delays
traffic, stops forwarding (a silent drop), resets connections after N more bytes, or goes
away altogether (`cut`: every link reset, new connections refused) until `restore`."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket


class FaultyProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.delay = 0.0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.reset_after: int | None = None  # bytes, client -> server, before every link resets
        self.resets = 0
        # After a reset, re-arm at a random point this many more times (cuts at random points).
        self.more_resets = 0
        self.random = random.Random(5)
        self._server: asyncio.Server | None = None
        self.port = 0
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    def drop(self) -> None:
        """Stop forwarding (a silent black hole) until `resume`."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        return self.port

    async def cut(self) -> None:
        """Redis is gone, as when its host dies: open links reset, new ones are refused."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for client, upstream in list(self._links):
            self._abort(client, upstream)
        self._links.clear()

    async def restore(self) -> None:
        """Redis answers again, on the same port."""
        if self._server is None:
            await self.start()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for client, upstream in list(self._links):
            for writer in (client, upstream):
                writer.close()

    def _abort(self, *writers: asyncio.StreamWriter) -> None:
        for writer in writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER 0: the close sends RST, as a failing middlebox does.
                with contextlib.suppress(OSError):
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        link = (writer, up_writer)
        self._links.add(link)

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, upstream: bool
        ) -> None:
            try:
                while data := await source.read(65536):
                    await self._flowing.wait()
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    if upstream and self.reset_after is not None:
                        if len(data) >= self.reset_after:
                            sink.write(data[: self.reset_after])
                            self.resets += 1
                            self.reset_after = None
                            if self.more_resets > 0:
                                self.more_resets -= 1
                                self.reset_after = self.random.randint(1, 200_000)
                            self._abort(writer, up_writer)
                            return
                        self.reset_after -= len(data)
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                self._abort(sink)

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))
        self._links.discard(link)
