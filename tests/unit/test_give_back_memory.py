"""shared.procs.give_back_large_blocks: large blocks a service frees go back to the system."""
from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

# In a process of its own (the setting is process-wide): glibc raises its mapping threshold
# when a mapped block is freed (here one of 8 MB), up to 32 MB; 1 MB blocks then come from the
# heap, which gives back only what is free at its top. A hundred 1 MB blocks are made and every
# other one freed, so that each freed block lies under one still held: what the process keeps
# of the 50 MB freed is measured. Whether glibc's own raise happened in a given process depended
# on where its heap landed (the length of the interpreter's path changed it), so the control
# raises the threshold itself to that maximum.
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
else:
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD where glibc's raises may take it

def written(size):
    block = libc.malloc(size)
    libc.memset(block, 1, size)
    return block

libc.free(written(8 << 20))
before = resident_mb()
blocks = [written(1 << 20) for _ in range(100)]
for block in blocks[::2]:
    libc.free(block)
print(resident_mb() - before - 50)  # the 50 MB still held aside
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
    assert _kept_mb("raised") > 40  # the threshold where glibc's raises may take it: the test can tell
    assert _kept_mb("give back") < 5
