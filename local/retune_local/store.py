"""The local SageMaker's state on disk: one JSON file per resource under `<state_dir>/state/<kind>/`.

A write replaces the file atomically (write, fsync-free rename), so a crash leaves either the old or the new
record. Records are plain JSON: the service rebuilds its objects from them on start.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote


class Store:
    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "state"
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / (quote(key, safe="") + ".json")

    def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        path = self._path(kind, key)
        text = json.dumps(record, sort_keys=True, separators=(",", ":"))
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._path(kind, key).unlink(missing_ok=True)

    def load(self, kind: str) -> dict[str, dict[str, Any]]:
        folder = self.root / kind
        if not folder.is_dir():
            return {}
        records = {}
        for path in sorted(folder.glob("*.json")):
            records[unquote(path.stem)] = json.loads(path.read_text())
        return records
