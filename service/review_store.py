"""The review queue's store: answers the service was unsure of, kept in SQLite for a person to correct.

SQLite because it is embedded (no server to run) and survives restarts. Writes happen on one background
thread (``ReviewRecorder``): a request only offers its answer to a bounded in-memory queue, so p99 does not
wait on the disk, and when that queue is full the sample simply skips the answer. The table is bounded by
count and by age; pending items are evicted before reviewed ones, oldest first.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic_core

log = logging.getLogger("service.review")
STATUSES = ("pending", "accepted", "discarded")
SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    text TEXT NOT NULL,
    answer TEXT NOT NULL,
    model TEXT NOT NULL,
    uncertainty REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    intent TEXT,
    slots TEXT,
    reviewed REAL
);
CREATE INDEX IF NOT EXISTS by_uncertainty ON items (status, uncertainty DESC);
CREATE INDEX IF NOT EXISTS by_status ON items (status);
CREATE INDEX IF NOT EXISTS by_age ON items (created);
"""
FLUSH_S = 0.02  # the writer commits at most this often: short bursts (a few rows), so no request waits long
AGE_TRIM_EVERY_S = 60.0
WRITER_NICE = 10  # the age bound is enforced this often (and at once for rows already too old)


@dataclass(frozen=True)
class Bounds:
    max_items: int
    max_age_s: float


def uncertainty(answer: dict[str, Any]) -> float:
    """1 - the lowest confidence in an answer: its intent's (the top of the ranking) or any slot's."""
    ranking = answer.get("intent_ranking") or [{"confidence": 1.0}]
    lowest = min([ranking[0]["confidence"], *(s["confidence"] for s in answer.get("slots", ()))])
    return round(1.0 - lowest, 6)


class ReviewStore:
    """The table, behind one lock: the recorder's thread writes, the admin routes read and update."""

    def __init__(self, path: Path, bounds: Bounds) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.bounds, self._lock = bounds, threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers (the admin routes) do not block the writer
        self._db.execute("PRAGMA synchronous=NORMAL")  # with WAL: no fsync per commit, and still never corrupt
        self._db.executescript(SCHEMA)
        self._count = self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]  # kept, not counted per insert
        self._age_trimmed = 0.0

    def add(self, rows: list[tuple[float, str, str, str, float]]) -> None:
        """Insert (time, text, answer as JSON, model version, uncertainty) rows, then trim to the bounds."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO items (created, text, answer, model, uncertainty) VALUES (?, ?, ?, ?, ?)", rows)
            self._count += len(rows)
            self._trim(min((r[0] for r in rows), default=time.time()))
            self._db.execute("COMMIT")

    def _trim(self, oldest_added: float) -> None:
        now = time.time()
        cutoff = now - self.bounds.max_age_s
        if oldest_added < cutoff or now - self._age_trimmed > AGE_TRIM_EVERY_S:
            self._count -= self._db.execute("DELETE FROM items WHERE created < ?", (cutoff,)).rowcount
            self._age_trimmed = now
        for status in ("= 'pending'", "!= 'pending'"):  # oldest first (ids grow with time), pending ones first
            excess = self._count - self.bounds.max_items
            if excess <= 0:
                return
            self._count -= self._db.execute(f"DELETE FROM items WHERE id IN (SELECT id FROM items WHERE status "
                                            f"{status} ORDER BY id LIMIT ?)", (excess,)).rowcount

    def items(self, status: str | None = "pending", limit: int = 100) -> list[dict[str, Any]]:
        """Items of a status (None: all), the least certain first."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        return self._select(f"SELECT * FROM items {where} ORDER BY uncertainty DESC, id LIMIT ?", (*args, limit))

    def get(self, item_id: int) -> dict[str, Any] | None:
        found = self._select("SELECT * FROM items WHERE id = ?", (item_id,))
        return found[0] if found else None

    def _select(self, sql: str, args: tuple) -> list[dict[str, Any]]:
        """Rows as items: the answer and the reviewed slots decoded from their JSON."""
        with self._lock:
            cur = self._db.execute(sql, args)
            rows, names = cur.fetchall(), [d[0] for d in cur.description]
        items = [dict(zip(names, row, strict=True)) for row in rows]
        return [{**i, "answer": json.loads(i["answer"]), "slots": json.loads(i["slots"]) if i["slots"] else None}
                for i in items]

    def review(self, item_id: int, status: str, intent: str | None, slots: list[dict] | None) -> bool:
        """Record a person's verdict and corrections; False when the item is gone (evicted or never there)."""
        with self._lock:
            cur = self._db.execute("UPDATE items SET status = ?, intent = ?, slots = ?, reviewed = ? WHERE id = ?",
                                   (status, intent, None if slots is None else json.dumps(slots), time.time(),
                                    item_id))
        return cur.rowcount == 1

    def count(self) -> int:
        with self._lock:
            return self._count

    def close(self) -> None:
        with self._lock:
            self._db.close()


class ReviewRecorder:
    """Takes answers on the request path without blocking; one thread writes them to the store in batches."""

    def __init__(self, store: ReviewStore, threshold: float, capacity: int = 4096) -> None:
        self.store, self.threshold = store, threshold
        self._queue: queue.Queue[tuple | None] = queue.Queue(capacity)
        self.skipped = 0  # answers left out because the queue was full
        self._thread = threading.Thread(target=self._run, name="review-writer", daemon=True)
        self._thread.start()

    def offer(self, answer: dict[str, Any], encoded: bytes | None = None) -> None:
        """Queue ``answer`` (and its JSON, when the caller has it) if its intent or any slot's confidence is under
        the threshold; never blocks."""
        doubt = uncertainty(answer)
        if doubt <= 1.0 - self.threshold:
            return
        try:
            self._queue.put_nowait((time.time(), answer, encoded, doubt))
        except queue.Full:
            self.skipped += 1

    def _run(self) -> None:
        try:  # Linux: a lower CPU priority for this thread alone, so that request threads go first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICE)
        except (AttributeError, OSError):
            log.debug("review writer keeps the process's priority")
        while (first := self._queue.get()) is not None:
            rows = [first]
            time.sleep(FLUSH_S)  # let more gather: one transaction per interval, not per answer
            while len(rows) < 4096:
                try:
                    row = self._queue.get_nowait()
                except queue.Empty:
                    break
                if row is None:
                    self._queue.put(None)
                    break
                rows.append(row)
            try:  # encoded here, off the request path, when the request had no JSON of this answer alone
                self.store.add([(t, a["text"], (encoded or pydantic_core.to_json(a)).decode(), a["model"].version,
                                 doubt) for t, a, encoded, doubt in rows])
            except sqlite3.Error:
                log.exception("review store write failed; %d answers not kept", len(rows))

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=10)
        self.store.close()
