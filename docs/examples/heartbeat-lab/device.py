#!/usr/bin/python3
# The lab's client, unchanged in spirit: a plain WebSocket, no iosignal library. It sends
# "Heartbeat: <timestamp> - <random>" every HEARTBEAT_S seconds and answers every "Status: <ts> - <seq> - <status>"
# with "ACK: <timestamp> - <seq>". Needs Debian's python3-websockets (or `pip install websockets`).
import asyncio
import os
import random
import sys
from datetime import datetime

import websockets

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://localhost:7777/plain/lab"
HEARTBEAT_S = float(os.environ.get("HEARTBEAT_S", "10"))


def stamp():
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


async def heartbeats(ws):
    while True:
        await ws.send(f"Heartbeat: {stamp()} - {random.randint(0, 999)}")
        await asyncio.sleep(HEARTBEAT_S)


async def main():
    async with websockets.connect(URL) as ws:
        beat = asyncio.ensure_future(heartbeats(ws))
        async for message in ws:
            print("received:", message, flush=True)
            if message.startswith("Status:"):
                seq = message.split(" - ")[1]
                await ws.send(f"ACK: {stamp()} - {seq}")
        beat.cancel()


asyncio.run(main())
