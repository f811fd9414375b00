"""A job's labels: a name, tags and a note a researcher gives it to find it again, checked, and
the filter every job list uses (torch-free: the app and the CLI share it)."""

from __future__ import annotations

from typing import Iterable

from ..config.fields import ConfigError, FieldError

MAX_NAME = 200
MAX_TAG = 40
MAX_TAGS = 20
MAX_NOTE = 5000


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags stripped, empty ones dropped, each once, in the order given; a ConfigError naming
    ``tags`` for one that is too long or holds a comma, or for too many."""
    out: list[str] = []
    for tag in tags:
        tag = str(tag).strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG or "," in tag:
            raise ConfigError([FieldError("tags", tag, f"tags of at most {MAX_TAG} characters, without commas")])
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise ConfigError([FieldError("tags", f"{len(out)} tags", f"at most {MAX_TAGS} tags")])
    return out


def label_fields(name: str | None = None, tags: Iterable[str] | None = None, note: str | None = None) -> dict:
    """The record fields to write for the labels given (None: leave that label as it is)."""
    fields: dict = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise ConfigError([FieldError("name", name, f"a name of 1 to {MAX_NAME} characters")])
        fields["name"] = name
    if tags is not None:
        fields["tags"] = clean_tags(tags)
    if note is not None:
        if len(note) > MAX_NOTE:
            raise ConfigError([FieldError("note", f"{len(note)} characters", f"at most {MAX_NOTE} characters")])
        fields["note"] = note
    return fields


def matches(record: dict, tags: Iterable[str] = (), text: str = "") -> bool:
    """Whether a job has every one of ``tags`` and ``text`` (any case) in its id, name, note or tags."""
    own = set(record.get("tags") or [])
    if not set(tags) <= own:
        return False
    if not text:
        return True
    haystack = " ".join(str(record.get(k) or "") for k in ("id", "name", "note")) + " " + " ".join(own)
    return text.lower() in haystack.lower()
