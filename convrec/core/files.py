"""Writing a file so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `data` (text as utf-8) to a temporary file beside `path`, then rename it over
    `path`: a crash mid-write leaves the previous file intact and no temporary behind.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_atomic(p, "héllo"); p.read_text(encoding="utf-8"), sorted(x.name for x in p.parent.iterdir())
    ('héllo', ['a.txt'])
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """A report or manifest as indented JSON (Chinese kept readable, anything else JSON lacks as
    its str), written atomically; the folder is made when missing.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "reports" / "r.json"
    >>> write_json(p, {"查询": 1, "at": Path("x")}); print(p.read_text(encoding="utf-8"), end="")
    {
      "查询": 1,
      "at": "x"
    }
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
