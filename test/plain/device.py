#!/usr/bin/python3
# A third-party WebSocket device for the plain endpoint tests, on Debian's python3-websockets.
# usage: device.py URL [--ca F] [--cert F --key F] [--header 'Name: value']
# stdin, one command per line: "text <utf-8>", "bin <hex>", "close"
# stdout, one JSON object per line: {"open": true}, {"text": ...}, {"bin": "<hex>"}, {"closed": code, "reason": ...},
# {"error": "..."}
import asyncio
import json
import ssl
import sys

import websockets


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main():
    args = sys.argv[1:]
    url = args.pop(0)
    ca = cert = key = None
    headers = []
    while args:
        flag = args.pop(0)
        value = args.pop(0)
        if flag == "--ca":
            ca = value
        elif flag == "--cert":
            cert = value
        elif flag == "--key":
            key = value
        elif flag == "--header":
            name, _, text = value.partition(":")
            headers.append((name.strip(), text.strip()))
    context = None
    if url.startswith("wss:"):
        context = ssl.create_default_context(cafile=ca)
        if cert:
            context.load_cert_chain(cert, key)
    try:
        ws = await websockets.connect(url, ssl=context, extra_headers=headers, open_timeout=5)
    except Exception as err:  # refused upgrade, TLS alert, connection refused…
        out({"error": f"{type(err).__name__}: {err}"})
        return
    out({"open": True})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def receive():
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    out({"bin": message.hex()})
                else:
                    out({"text": message})
        except websockets.ConnectionClosed:
            pass
        out({"closed": ws.close_code, "reason": ws.close_reason})

    receiver = asyncio.ensure_future(receive())
    while True:
        line = await reader.readline()
        if not line:
            break
        command, _, rest = line.decode().rstrip("\n").partition(" ")
        try:
            if command == "text":
                await ws.send(rest)
            elif command == "bin":
                await ws.send(bytes.fromhex(rest))
            elif command == "close":
                await ws.close()
                break
        except websockets.ConnectionClosed:
            break
    await receiver


asyncio.run(main())
