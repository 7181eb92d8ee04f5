"""The files the scheduler reads from a job folder, written the way the engine's worker writes them.

  events.jsonl   {created_at (unix s), level, message, data?} per line
  heartbeat      {pid, step, at (unix ms)}, rewritten every few seconds while the trainer lives
  metrics.jsonl  one record per step (src/engine/metrics-log.ts): one complete line per write, NaN and the
                 infinities as the strings "NaN" / "Infinity" / "-Infinity", a partial last line left by a crash
                 sealed with a newline before the first new record
  manifest.json and every other result file: written to a temporary name, fsync'd, renamed into place
and reads one file the scheduler may write:
  threads        the threads this trainer may use from its next step on (idle cores lent, or taken back)
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from typing import Any, Callable, Optional


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def dumps(v: Any, **kw: Any) -> str:
    """JSON that JavaScript reads: non-finite numbers as strings (the metrics convention), never bare NaN."""
    return json.dumps(_finite(v), ensure_ascii=False, allow_nan=False, **kw)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes | str) -> None:
    """Readers see the old file or the whole new one, never a part (temporary file, fsync, rename, fsync dir)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(d)


def _append_line(fd: int, line: str) -> None:
    buf = line.encode("utf-8")
    while buf:
        n = os.write(fd, buf)
        buf = buf[n:]


class Events:
    def __init__(self, out_dir: str) -> None:
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, "events.jsonl")

    def __call__(self, level: str, message: str, data: Any = None) -> None:
        rec = {"created_at": int(time.time()), "level": level, "message": message}
        if data is not None:
            rec["data"] = data
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            _append_line(fd, dumps(rec) + "\n")
        finally:
            os.close(fd)


class MetricsLog:
    """Appends records to metrics.jsonl, one os.write of one whole line each (no user-space buffer)."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.fd: Optional[int] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        size = os.fstat(self.fd).st_size
        if size > 0:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    _append_line(self.fd, "\n")  # seal a crash's partial line so ours starts on its own

    def write(self, record: dict) -> None:
        if self.fd is None:
            raise RuntimeError("MetricsLog is closed")
        _append_line(self.fd, dumps(record) + "\n")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class ThreadGrant:
    """The threads the scheduler lends a job (src/factory/thread-grant.ts): `poll()` once a step returns the new
    count when <out>/threads changed since the last poll (capped at `cap`), else None; a malformed file is ignored."""

    def __init__(self, out_dir: str, cap: int) -> None:
        self.path = os.path.join(out_dir, "threads")
        self.cap = max(1, cap)
        self._seen: Optional[tuple] = None

    def poll(self) -> Optional[int]:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if key == self._seen:
            return None
        self._seen = key
        try:
            with open(self.path, encoding="utf-8") as f:
                n = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return min(n, self.cap) if n >= 1 else None


class Heartbeat:
    """Rewrites <out>/heartbeat every `every_s` seconds from a daemon thread, with the step it is told."""

    def __init__(self, out_dir: str, every_s: float = 2.0, step: Callable[[], int] = lambda: 0) -> None:
        self.path = os.path.join(out_dir, "heartbeat")
        self.every_s = every_s
        self.step = step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def beat(self) -> None:
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(json.dumps({"pid": os.getpid(), "step": self.step(), "at": int(time.time() * 1000)}))

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.beat()
            except OSError:
                pass  # a full disk must not kill training from this thread; the next beat tries again

    def start(self) -> "Heartbeat":
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.beat()
