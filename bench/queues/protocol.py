"""What every queue driver shares: the job body, the UDP probe and the enqueue loops.

A job takes (seq, sleep_ms), optionally sleeps, and reports its start and end times
to the harness over UDP on loopback. An enqueue command prints one JSON object with
the commit time of every job, in seq order, so the harness can match them up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

PROBE_ENV = "BENCH_PROBE"
DSN_ENV = "BENCH_DSN"

_socket: socket.socket | None = None
_address: tuple[str, int] | None = None

Job = tuple[int, int]
SendOne = Callable[[int, int], None]
SendMany = Callable[[Sequence[Job]], None]
ASendOne = Callable[[int, int], Awaitable[None]]
ASendMany = Callable[[Sequence[Job]], Awaitable[None]]


def _probe() -> tuple[socket.socket, tuple[str, int]]:
    global _socket, _address
    if _socket is None or _address is None:
        host, _, port = os.environ[PROBE_ENV].partition(":")
        _address = (host, int(port))
        _socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return _socket, _address


def report(seq: int, started: float) -> None:
    sock, address = _probe()
    sock.sendto(f"{seq} {started:.6f} {time.time():.6f}".encode(), address)


def job_body(seq: int, sleep_ms: int) -> None:
    started = time.time()
    if sleep_ms:
        time.sleep(sleep_ms / 1000)
    report(seq, started)


async def job_body_async(seq: int, sleep_ms: int) -> None:
    started = time.time()
    if sleep_ms:
        await asyncio.sleep(sleep_ms / 1000)
    report(seq, started)


def dsn() -> str:
    return os.environ[DSN_ENV]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("setup")
    sub.add_parser("reset")
    enqueue = sub.add_parser("enqueue")
    enqueue.add_argument("--n", type=int, required=True)
    enqueue.add_argument("--first-seq", type=int, default=0)
    enqueue.add_argument("--sleep-ms", type=int, default=0)
    enqueue.add_argument("--mode", choices=("single", "batch", "preload"), default="single")
    enqueue.add_argument("--batch-size", type=int, default=500)
    enqueue.add_argument("--rate", type=float, default=0.0, help="jobs/s, one by one")
    worker = sub.add_parser("worker")
    worker.add_argument("--slots", type=int, default=16)
    return p


def _jobs(args: argparse.Namespace) -> list[Job]:
    return [(args.first_seq + i, args.sleep_ms) for i in range(args.n)]


def _emit(committed: list[float], started: float) -> None:
    json.dump({"seconds": time.time() - started, "committed": committed}, sys.stdout)
    sys.stdout.flush()


def _pace(t0: float, index: int, rate: float) -> float:
    return t0 + index / rate - time.time() if rate else 0.0


def enqueue(args: argparse.Namespace, one: SendOne, many: SendMany | None) -> None:
    jobs, committed = _jobs(args), []
    started = time.time()
    if args.mode != "single" and many is not None:
        for i in range(0, len(jobs), args.batch_size):
            chunk = jobs[i : i + args.batch_size]
            many(chunk)
            committed.extend([time.time()] * len(chunk))
    else:
        for index, (seq, sleep_ms) in enumerate(jobs):
            wait = _pace(started, index, args.rate)
            if wait > 0:
                time.sleep(wait)
            one(seq, sleep_ms)
            committed.append(time.time())
    _emit(committed, started)


async def enqueue_async(args: argparse.Namespace, one: ASendOne, many: ASendMany | None) -> None:
    jobs, committed = _jobs(args), []
    started = time.time()
    if args.mode != "single" and many is not None:
        for i in range(0, len(jobs), args.batch_size):
            chunk = jobs[i : i + args.batch_size]
            await many(chunk)
            committed.extend([time.time()] * len(chunk))
    else:
        for index, (seq, sleep_ms) in enumerate(jobs):
            wait = _pace(started, index, args.rate)
            if wait > 0:
                await asyncio.sleep(wait)
            await one(seq, sleep_ms)
            committed.append(time.time())
    _emit(committed, started)
