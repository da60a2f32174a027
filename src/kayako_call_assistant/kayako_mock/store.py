"""The mock's state: JSON documents by kind and id in one SQLite table.

The stdlib ``sqlite3`` module, synchronous: every query is a sub-millisecond local read or write, so blocking
the event loop briefly is cheaper and simpler than a thread pool or an async driver for a test server.
Documents keep the API's field names with references stored as ids (``requester_id``); ``render`` turns
them into API objects. Filters use SQLite's JSON functions, so no ORM schema has to mirror Kayako's.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

Doc = dict[str, Any]

# First id of each kind: real Kayako ids are 11+ digits, so clients must not assume 32-bit ids.
ID_BASES: dict[str, int] = {
    "user": 80014400000,
    "case": 80000100000,
    "article": 80000200000,
    "post": 80000300000,
    "section": 80000400000,
    "category": 80000500000,
    "locale_field": 80000600000,
    "identity_email": 80000700000,
    "identity_phone": 80000800000,
    "case_message": 80000900000,
    "note": 80001000000,
    "tag": 80001100000,
}


class Store:
    def __init__(self, database: str = ":memory:") -> None:
        # One connection shared by the event loop (and a server thread in CLI tests), guarded by a lock.
        self._db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._depth = 0
        self._db.execute(
            "PRAGMA journal_mode=WAL" if database != ":memory:" else "PRAGMA journal_mode=MEMORY"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id INTEGER NOT NULL, data TEXT NOT NULL,"
            " PRIMARY KEY (kind, id)) WITHOUT ROWID"
        )

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (nested uses join the outer one)."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def is_empty(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM docs LIMIT 1").fetchone() is None

    def next_id(self, kind: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(id) FROM docs WHERE kind = ?", (kind,)).fetchone()
        if row[0] is None:
            return ID_BASES.get(kind, 1)
        return int(row[0]) + 1

    def get(self, kind: str, doc_id: int) -> Doc | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM docs WHERE kind = ? AND id = ?", (kind, doc_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def all(self, kind: str) -> list[Doc]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM docs WHERE kind = ? ORDER BY id", (kind,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def find(self, kind: str, **equal: Any) -> list[Doc]:
        """Documents whose top-level fields equal the given values, by id ascending."""
        sql = "SELECT data FROM docs WHERE kind = ?"
        args: list[Any] = [kind]
        for name, value in equal.items():
            sql += f" AND json_extract(data, '$.{name}') = ?"  # names come from our code, never from requests
            args.append(int(value) if isinstance(value, bool) else value)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def insert(self, kind: str, doc: Doc) -> Doc:
        """Store ``doc`` (given an id when it has none); returns it."""
        with self.transaction():
            if doc.get("id") is None:
                doc["id"] = self.next_id(kind)
            self._db.execute(
                "INSERT INTO docs (kind, id, data) VALUES (?, ?, ?)", (kind, doc["id"], json.dumps(doc))
            )
        return doc

    def insert_many(self, kind: str, docs: list[Doc]) -> None:
        with self.transaction():
            self._db.executemany(
                "INSERT INTO docs (kind, id, data) VALUES (?, ?, ?)",
                [(kind, d["id"], json.dumps(d)) for d in docs],
            )

    def save(self, kind: str, doc: Doc) -> Doc:
        with self.transaction():
            self._db.execute(
                "UPDATE docs SET data = ? WHERE kind = ? AND id = ?", (json.dumps(doc), kind, doc["id"])
            )
        return doc

    def delete(self, kind: str, doc_id: int) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM docs WHERE kind = ? AND id = ?", (kind, doc_id))
