"""Small process helpers: free ports, waiting for a port, children that die with their parent,
freed memory given back, stacks on demand."""
from __future__ import annotations

import ctypes
import faulthandler
import signal
import socket
import time

_PR_SET_PDEATHSIG = 1
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, kept


def give_back_large_blocks() -> None:
    """Keep glibc's malloc mapping every block of 128 KB or more on its own, so that freeing
    one returns it to the system. By default glibc raises that threshold (up to 32 MB) each time
    such a block is freed, and blocks under it then come from the heap, which returns only what is
    free at its top. Measured (BENCHMARKS.md): a sink at 100,000 stored articles 212 MB against
    247, the cleaner on whole HTML pages 194-204 against 216-217. A no-op where libc is not glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)


STACKS_SIGNAL = signal.SIGUSR1


def stacks_on_signal() -> None:
    """`kill -USR1 <pid>` writes every thread's Python stack to the process's stderr (the
    service's log), without stopping it: what a service that has gone quiet is waiting in."""
    faulthandler.register(STACKS_SIGNAL, all_threads=True)


def die_with_parent() -> None:
    """preexec_fn for children: Linux sends them SIGTERM if the supervisor dies (even by kill -9)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the supervisor's own shutdown still stops its children


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")
        time.sleep(0.05)
