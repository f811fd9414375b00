"""What the job store puts between diskcache and Prunelab: JSON only, private files, clear errors.

* :class:`SafeJSONDisk` stores keys and values as zlib-compressed JSON (diskcache's ``JSONDisk``)
  and **refuses** any row whose mode says pickle. ``JSONDisk`` alone would still unpickle such a
  row (a planted row in ``cache.db`` would run code on a plain ``list``); Prunelab never writes
  one, so a pickled row can only be corruption or an attack. An undecodable row raises
  :class:`~pruning_core.errors.CorruptRecord` instead of zlib's or json's bare errors.
* :func:`store_errors` turns SQLite and file-system failures (a full disk, a read-only folder, a
  database that is not one) into a :class:`~pruning_core.errors.StoreError` naming the store.
* :func:`make_private` keeps the cache dir to its owner (folders 0700, files 0600).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import pathlib
import sqlite3
import zlib

import diskcache
from diskcache.core import MODE_BINARY, MODE_PICKLE, MODE_RAW

from ..errors import CorruptRecord, PrunelabError, StoreError

_MODE_NAMES = {MODE_RAW: "raw", MODE_BINARY: "binary", 3: "text", MODE_PICKLE: "pickle"}


class SafeJSONDisk(diskcache.JSONDisk):
    """diskcache's JSON serialisation that never unpickles and names what it cannot decode."""

    def get(self, key, raw):
        if not raw:
            raise CorruptRecord("a key stored as a pickle was refused (Prunelab stores JSON only)")
        try:
            return super().get(key, raw)
        except (zlib.error, ValueError, TypeError) as exc:
            raise CorruptRecord(f"an undecodable key ({type(exc).__name__}: {exc})") from None

    def fetch(self, mode, filename, value, read):
        if mode not in (MODE_RAW, MODE_BINARY):
            raise CorruptRecord(f"a value stored in diskcache's {_MODE_NAMES.get(mode, mode)} mode was refused "
                                "(Prunelab stores JSON only; a pickled row is corruption or tampering)")
        try:
            return super().fetch(mode, filename, value, read)
        except (zlib.error, ValueError, TypeError, OSError) as exc:
            raise CorruptRecord(f"an undecodable value ({type(exc).__name__}: {exc})") from None


def open_cache(directory: pathlib.Path) -> diskcache.Cache:
    """A diskcache that never evicts (its default silently evicts past 1 GB) and stores JSON only."""
    with store_errors(directory, "opened"):
        make_private(directory)
        cache = diskcache.Cache(str(directory), disk=SafeJSONDisk, eviction_policy="none",
                                size_limit=2**62, timeout=60)
        for path in directory.glob("cache.db*"):
            _chmod(path, 0o600)
        return cache


def describe_failure(exc: BaseException) -> str:
    """A short cause in words for a storage failure."""
    text = str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "disk is full" in text:
        return f"the disk is full ({text})"
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text:
        return f"it is read-only or not writable by this user ({text})"
    if "not a database" in text or "malformed" in text:
        return f"its database file is damaged ({text})"
    return f"{type(exc).__name__}: {text}"


@contextlib.contextmanager
def store_errors(root: pathlib.Path, action: str):
    """Re-raise storage failures inside the block as a :class:`StoreError` naming ``root``."""
    try:
        yield
    except PrunelabError:
        raise
    except (sqlite3.Error, OSError, diskcache.Timeout) as exc:
        raise StoreError(f"the job store {root} cannot be {action}: {describe_failure(exc)}") from exc


def guarded(action: str):
    """Method decorator: storage failures become a StoreError naming the store and ``action``."""
    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            with store_errors(self.root, action):
                return method(self, *args, **kwargs)
        return guarded
    return wrap


def _chmod(path: pathlib.Path, mode: int) -> None:
    with contextlib.suppress(OSError):       # a folder owned by someone else keeps its mode
        os.chmod(path, mode)


def make_private(folder: pathlib.Path) -> pathlib.Path:
    """Create ``folder`` (and parents) and make it readable by its owner only (0700)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _chmod(folder, 0o700)
    return folder

