"""shared.procs.stacks_on_signal: SIGUSR1 makes a running service write its threads' stacks."""
from __future__ import annotations

import subprocess
import sys
import time

from shared.procs import STACKS_SIGNAL

_WAITING = """
import sys, threading, time
from shared.procs import stacks_on_signal
if sys.argv[1] == "on":
    stacks_on_signal()

def waiting_in_a_named_place():
    time.sleep(30)

threading.Thread(target=waiting_in_a_named_place, daemon=True).start()
print("ready", flush=True)
time.sleep(30)
"""


def _stderr_after_signal(mode: str) -> tuple[str, int | None]:
    process = subprocess.Popen([sys.executable, "-c", _WAITING, mode], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(STACKS_SIGNAL)
        time.sleep(0.5)
        alive = process.poll()
    finally:
        process.kill()
        _, err = process.communicate()
    return err, alive


def test_the_signal_writes_every_thread_and_the_process_goes_on():
    err, exit_code = _stderr_after_signal("on")
    assert exit_code is None  # still running after the dump
    assert "waiting_in_a_named_place" in err  # the other thread's stack
    assert "Current thread 0x" in err or err.count("Thread 0x") >= 2


def test_without_it_the_signal_ends_the_process():
    err, exit_code = _stderr_after_signal("off")
    assert exit_code is not None and "waiting_in_a_named_place" not in err
