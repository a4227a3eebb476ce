"""Lesson tables already checked, kept between starts.

Reading the lessons at each start means parsing every TOML file (pure Python, ~45 ms
for the shipped fifteen) and checking every quiz expression and template (~20–70 ms),
all before the lesson list can draw. A file whose bytes, name and checker are the
same as last time gives the same table and the same verdict, so its table is kept as
JSON (read back in ~2 ms), under the hash of the checker's own source, the file's name
and its bytes: any edit to the lesson or to the checker means a fresh parse and check.
Only sound files are kept; a broken one is checked (and reported) every time.

The cache is a convenience: a missing, unreadable or corrupt cache file is read as
empty and written anew; a cache that cannot be written is left alone.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

VERSION = 1
_fingerprint: bytes | None = None


def checker_fingerprint() -> bytes:
    """A hash of the source of everything that parses and checks a lesson file; empty
    when that source cannot be read (then nothing is cached: a stale verdict could pass)."""
    global _fingerprint
    if _fingerprint is None:
        import engine.expr

        here = Path(__file__).parent
        files = [here / name for name in ("catalog.py", "language.py", "schema.py")]
        files += sorted(Path(engine.expr.__file__).parent.glob("*.py"))
        digest = hashlib.blake2b(f"{VERSION} {sys.version_info[:2]}".encode(), digest_size=16)
        try:
            for file in files:
                digest.update(file.read_bytes())
        except OSError:
            _fingerprint = b""
        else:
            _fingerprint = digest.digest() if len(files) > 3 else b""
    return _fingerprint


class CheckedTables:
    """``get(name, raw)``: the table a sound lesson file ``name`` with bytes ``raw`` had
    last time, or None; ``keep`` records one; ``save`` writes the tables asked for or
    kept this time (so entries for old versions of a file drop out)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stored = self._read()
        self._used: dict[str, dict] = {}

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return {}
        tables = data.get("tables") if isinstance(data, dict) else None
        if not isinstance(tables, dict):
            return {}
        return {k: v for k, v in tables.items() if isinstance(v, dict)}

    @staticmethod
    def _key(name: str, raw: bytes) -> str:
        digest = hashlib.blake2b(checker_fingerprint(), digest_size=20)
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0" + raw)
        return digest.hexdigest()

    def get(self, name: str, raw: bytes) -> dict | None:
        if not checker_fingerprint():
            return None
        key = self._key(name, raw)
        table = self._stored.get(key)
        if table is not None:
            self._used[key] = table
        return table

    def keep(self, name: str, raw: bytes, table: dict) -> None:
        if not checker_fingerprint():
            return
        try:
            json.dumps(table, allow_nan=True)
        except (TypeError, ValueError):  # a TOML date, say: not worth caching
            return
        self._used[self._key(name, raw)] = table

    def save(self) -> None:
        if self._used.keys() == self._stored.keys():
            return
        from tutor.storage.files import atomic_write

        data = json.dumps({"version": VERSION, "tables": self._used}, ensure_ascii=False)
        try:
            atomic_write(self.path, data.encode("utf-8"))
        except OSError:
            pass  # a read-only home: the next start checks the files again
