"""The errors Prunelab raises on purpose, each with a message a user can act on.

Every one of them names what is wrong (the job, the file, the field) in words; the CLI prints
them as one ``error:`` line, the app as a warning. Anything else that escapes is a bug.

``PrunelabError``
 ├── ``StoreError``        the job store cannot be read or written (full disk, read-only folder)
 │    └── ``CorruptRecord``  one job record or event is unreadable (only that job is affected)
 ├── ``CorruptArtifact``   a file of a run folder (masks, weights, state.json) is unreadable
 └── ``Diverged``          training produced a NaN or infinite loss
"""

from __future__ import annotations


class PrunelabError(Exception):
    """Base of every error Prunelab raises on purpose."""


class StoreError(PrunelabError):
    """The job store under a cache dir cannot be read or written."""


class CorruptRecord(StoreError):
    """A job record or one of its events cannot be decoded; the message names the job and file."""


class CorruptArtifact(PrunelabError):
    """A run-folder file (masks, weights, the commit point) is unreadable, missing or truncated."""


class Diverged(PrunelabError):
    """The training loss became NaN or infinite; the message names the round and epoch."""
