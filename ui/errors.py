"""Errors Prunelab raises on purpose (``pruning_core.errors``: an unreadable store or record, a full
disk, a read-only folder, a corrupt run file) shown on the page as an ``st.error`` with their
message, in plain text, instead of a traceback. Anything else still escapes: it is a bug.

* :func:`reported` — a ``with`` block whose PrunelabError becomes an error box; the page goes on
  after the block.
* :func:`guarded` — the same for a function (a fragment, which reruns without the page around it).
* :func:`problem` — an error's message, naming the job it concerns.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator

import streamlit as st

from pruning_core.errors import PrunelabError

from .text import plain


def problem(job_id: str, exc: BaseException | str) -> str:
    """The message of ``exc``, prefixed with the job unless it already names it."""
    message = str(exc).strip() or type(exc).__name__
    return message if job_id in message else f"job {job_id}: {message}"


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Run the block; a PrunelabError ends it with an ``st.error`` showing the message as plain text."""
    try:
        yield
    except PrunelabError as exc:
        st.error(plain(exc), icon=":material/error:")


def guarded(function: Callable) -> Callable:
    """``function`` whose PrunelabError shows as an ``st.error`` (returns None then)."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        with reported():
            return function(*args, **kwargs)
    return run
