#!/usr/bin/env python3
"""The drain bench's vendor: answers every HTTP/1.1 request with 200 and a
small JSON body, on keep-alive connections, and counts what it received.

    vendor.py PORT COUNT_FILE   # the count is written there every 0.2 s
"""
import asyncio
import os
import sys

PORT, COUNT_FILE = int(sys.argv[1]), sys.argv[2]
received = 0
BODY = b'{"ok":true}'
ANSWER = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
          + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


async def serve(reader, writer):
    global received
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            received += 1
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def report():
    while True:
        with open(COUNT_FILE + ".tmp", "w") as f:
            f.write(str(received))
        os.replace(COUNT_FILE + ".tmp", COUNT_FILE)
        await asyncio.sleep(0.2)


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", PORT, backlog=1024)
    asyncio.get_running_loop().create_task(report())
    async with server:
        await server.serve_forever()


asyncio.run(main())
