"""A starting sink's memory over a stored history, for bench.dedup: in a process of its own, as a
sink would be, open the store bench.dedup filled and store one more batch, which first loads
the key index from every stored row; report the CPU that took and the memory the process holds.

    .venv/bin/python -m bench._sink_memory <database URL> <file of encoded articles, one a line>
"""
from __future__ import annotations

import json
import os
import sys
import time

from bench._pipeline_report import current_rss_mb, peak_rss_mb


def measure(db_url: str, articles_file: str) -> dict:
    from shared.procs import give_back_large_blocks

    give_back_large_blocks()  # as the newsflow command does first
    import services.sink.main  # noqa: F401 - what a sink imports (its Kafka client, metrics)
    from services.sink.store import open_store
    from shared.schema import decode

    with open(articles_file, "rb") as lines:
        batch = [decode(line.rstrip(b"\n")) for line in lines]
    imported = current_rss_mb(os.getpid())
    store = open_store(db_url)
    cpu = time.process_time()
    store.upsert(batch)
    cpu = time.process_time() - cpu
    figures = {
        "sink_rss_mb_imports": imported,
        "sink_first_batch_cpu_s": round(cpu, 2),  # the index's load, then one batch's decisions
        "sink_rss_mb_after_first_batch": current_rss_mb(os.getpid()),
        "sink_peak_rss_mb": round(peak_rss_mb(os.getpid()), 1),
    }
    store.close()
    return figures


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], sys.argv[2])))
