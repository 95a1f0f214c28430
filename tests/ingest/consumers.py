"""Simulated consumers for producer-side tests: plain redis-py XREADGROUP/XACK loops in a thread.

They stand in for the ``workers`` package so these tests do not depend on it.
"""

from __future__ import annotations

import threading
import time

import redis

from ingest.streams import parse_autoclaim, parse_read_reply


class AckingConsumer(threading.Thread):
    """Reads new entries of ``group`` (``COUNT count``), records their ``event_id`` and acks them.

    Args:
        per_entry_s: simulated work per entry (makes a slow consumer); 0 for a fast one.
        claim_idle_ms: when set, also XAUTOCLAIMs entries idle that long (recovers a stalled
            consumer's entry) and processes them like new ones.
    """

    def __init__(
        self,
        url: str,
        stream: str,
        group: str,
        name: str,
        *,
        count: int = 500,
        per_entry_s: float = 0.0,
        claim_idle_ms: int | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.stream, self.group, self.name_ = stream, group, name
        self.count, self.per_entry_s, self.claim_idle_ms = count, per_entry_s, claim_idle_ms
        self.seen: list[str] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
        except BaseException as exc:  # reported by the test through .error
            self.error = exc
        finally:
            self.client.close()

    def step(self) -> None:
        raw = self.client.xreadgroup(
            self.group, self.name_, {self.stream: ">"}, count=self.count, block=20
        )
        entries = [e for _, batch in parse_read_reply(raw) for e in batch]
        if self.claim_idle_ms is not None:
            page = parse_autoclaim(
                self.client.xautoclaim(
                    self.stream, self.group, self.name_, self.claim_idle_ms, "0-0", count=100
                )
            )
            entries += page.claimed
        if not entries:
            return
        if self.per_entry_s:
            time.sleep(self.per_entry_s * len(entries))  # simulated work, not a wait for an outcome
        self.seen.extend(e.fields["event_id"] for e in entries if e.fields)
        self.client.xack(self.stream, self.group, *[e.entry_id for e in entries])

    def halt(self) -> None:
        self.stop.set()
        self.join(timeout=5)
        assert self.error is None, self.error
