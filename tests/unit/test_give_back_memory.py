"""shared.procs.give_back_large_blocks: large blocks a service frees go back to the system."""
from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

# In a process of its own (the setting is process-wide): glibc's default raises its mapping
# threshold to 8 MB when a block that large is freed; fifty 1 MB blocks then come from the heap,
# each followed by a small block that stays, and freeing them gives nothing back.
_FREE_FIFTY_MEGABYTES = """
import ctypes, sys
from shared.procs import give_back_large_blocks
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]

def resident_mb():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024

if sys.argv[1] == "give back":
    give_back_large_blocks()

def written(size):
    block = libc.malloc(size)
    libc.memset(block, 1, size)
    return block

libc.free(written(8 << 20))
before = resident_mb()
large = []
for _ in range(50):
    large.append(written(1 << 20))
    libc.malloc(1000)
for block in large:
    libc.free(block)
print(resident_mb() - before)
"""


def _kept_mb(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", _FREE_FIFTY_MEGABYTES, mode], capture_output=True,
                          text=True, check=True)
    return float(done.stdout)


def _glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallopt")
    except OSError:
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only")
def test_freed_large_blocks_go_back_to_the_system():
    assert _kept_mb("default") > 40  # what happens without it: the test can tell
    assert _kept_mb("give back") < 5
