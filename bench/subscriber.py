"""A console stand-in for the benches: follows `GET /_emulator/stream` and counts what arrives.

    python bench/subscriber.py http://127.0.0.1:PORT [--types call,webhook] [--slow-kbps N]

It reads the Server-Sent Events stream on a plain socket, as fast as the kernel hands it over (a
browser's EventSource parses in native code; this reader costs little CPU, so that the bench
measures what the emulator spends on a reader), or at `--slow-kbps` kilobytes per second (a reader
that cannot keep up). It prints `subscribed` once the stream's `hello` arrived, and on the
broadcast's `completed` message (or SIGTERM) one JSON line of counts: messages by type, the
`dropped` messages and how many messages they said were lost, bytes, and the last seq seen.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

_EVENT = re.compile(rb"\nevent: (\w+)\n")
_SEQ = re.compile(rb"id: (\d+)\nevent: \w+\ndata: ")
_DROPPED = re.compile(rb'event: dropped\ndata: \{[^\n]*?"count":(\d+)')
_DONE = b'"change":"completed"'


class Counts:
    def __init__(self) -> None:
        self.by_type: dict[str, int] = {}
        self.dropped = 0  # `dropped` messages
        self.lost = 0  # messages they said were lost
        self.bytes = 0
        self.last_seq = 0
        self.started = time.monotonic()

    def report(self) -> dict[str, Any]:
        return {
            "by_type": self.by_type,
            "messages": sum(n for t, n in self.by_type.items() if t not in ("hello", "dropped")),
            "dropped": self.dropped,
            "lost": self.lost,
            "bytes": self.bytes,
            "last_seq": self.last_seq,
            "seconds": round(time.monotonic() - self.started, 3),
            "cpu_s": round(time.process_time(), 3),
        }


def follow(url: str, types: str, slow_kbps: float, counts: Counts) -> None:
    parts = urlsplit(url)
    path = "/_emulator/stream" + (f"?types={types}" if types else "")
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80))
    head = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n\r\n"
    sock.sendall(head.encode())
    if slow_kbps > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    size = 4096 if slow_kbps > 0 else 1 << 20
    tail = b""
    subscribed = False
    while True:
        chunk = sock.recv(size)
        if not chunk:
            return
        counts.bytes += len(chunk)
        data = tail + chunk
        cut = data.rfind(b"\n\n") + 2  # count whole frames only; keep the rest for the next read
        whole, tail = data[:cut], data[cut:]
        for kind in _EVENT.findall(b"\n" + whole):
            name = kind.decode()
            counts.by_type[name] = counts.by_type.get(name, 0) + 1
        if whole:
            seqs = _SEQ.findall(whole[-2048:])
            if seqs:
                counts.last_seq = max(counts.last_seq, int(seqs[-1]))
            if b"event: dropped" in whole:
                lost = _DROPPED.findall(whole)
                counts.dropped += len(lost)
                counts.lost += sum(int(n) for n in lost)
        if not subscribed and counts.by_type.get("hello"):
            subscribed = True
            print("subscribed", flush=True)
        if _DONE in whole:
            return
        if slow_kbps > 0:
            time.sleep(len(chunk) / (slow_kbps * 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="the emulator's base URL")
    parser.add_argument("--types", default="", help="the stream's ?types= filter")
    parser.add_argument("--slow-kbps", type=float, default=0.0)
    args = parser.parse_args()
    counts = Counts()

    def stop(signum: int, frame: object) -> None:
        print(json.dumps(counts.report()), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    follow(args.url, args.types, args.slow_kbps, counts)
    print(json.dumps(counts.report()), flush=True)


if __name__ == "__main__":
    main()
