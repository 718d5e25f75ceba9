"""Replay, retag, backfill and the dead-letter queue: moving the pipeline back in time safely."""
