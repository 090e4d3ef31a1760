#!/usr/bin/env python3
"""The least an outbound event socket controller can do: a floor for docs/performance.md.

FreeSWITCH's `socket 127.0.0.1:PORT [async] full` connects here once per call. On each
connection this sends `connect` and, as soon as the channel data is in, `answer`, a 200 ms
tone and `hangup` in one write (each with `event-lock`), then reads until FreeSWITCH closes.
It subscribes to nothing and sends nothing else, so what FreeSWITCH spends on these calls
beyond mod_httapi's is the socket design's, not a controller's choices.

    VARIANT=0 PORT=8090 python3 examples/socket_floor.py
    pivot loadtest --extension 9000 --compare 9020 --webapp 127.0.0.1:5056 \
      --ext-var pivot_port=8090 --ext-var pivot_socket_mode=static \
      --compare-var httapi_url=http://127.0.0.1:5056/loadtest/httapi --proc PID

VARIANT=1 adds pivot's event subscription (`myevents`, `nixevent ALL`, `event plain` of the
types pivot reads). Standard library only; an experiment, not part of pivot.
"""

import asyncio
import os
import uuid

VARIANT = int(os.environ.get("VARIANT", "0"))
PORT = int(os.environ.get("PORT", "8090"))
EVENTS = b"CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP_COMPLETE DTMF CHANNEL_HANGUP"
FLOW = [("answer", ""), ("playback", "tone_stream://%(200,0,440)"), ("hangup", "NORMAL_CLEARING")]


async def read_frame(reader):
    """One frame: its header block and its body (Content-Length bytes)."""
    head = await reader.readuntil(b"\n\n")
    length = 0
    for line in head.split(b"\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head, body


def commands(unique_id):
    """Everything sent after the connect reply, in one buffer."""
    out = []
    if VARIANT >= 1:
        out += [b"myevents\n\n", b"nixevent ALL\n\n", b"event plain " + EVENTS + b"\n\n"]
    for app, arg in FLOW:
        msg = f"sendmsg {unique_id}\ncall-command: execute\nexecute-app-name: {app}\n"
        if arg:
            msg += f"execute-app-arg: {arg}\n"
        msg += f"event-lock: true\nEvent-UUID: {uuid.uuid4()}\n\n"
        out.append(msg.encode())
    return b"".join(out)


async def handle(reader, writer):
    try:
        writer.write(b"connect\n\n")
        await writer.drain()
        head, _ = await read_frame(reader)
        unique_id = ""
        for line in head.split(b"\n"):
            if line.startswith(b"Unique-ID: "):
                unique_id = line[len(b"Unique-ID: "):].decode()
        writer.write(commands(unique_id))
        await writer.drain()
        while await reader.read(65536):
            pass
    except (OSError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", PORT)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
