"""A sweep's grid (torch-free): axes over config fields, expanded and validated before anything runs.

An :class:`Axis` is a dotted config field and the values it takes (``seed=0,1,2``,
``algorithm.partial_epochs=null,3,5``, ``pruner.score=magnitude,random``). :func:`expand`
multiplies the axes (or pairs them, ``zip=True``) over a base config and validates every member:
a combination that makes an invalid config is reported with the axis values that make it so,
and so is one that repeats another member's experiment (same config hash) — a grid over seeds
has neither duplicates nor gaps. Nothing is queued unless every member is valid
(:meth:`Grid.check`).
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from ..config import Config, ConfigError, FieldError
from ..config.values import flat_values, set_dotted

MAX_JOBS_WITHOUT_CONFIRMATION = 1000


@dataclass(frozen=True)
class Axis:
    """One dimension of a sweep: a dotted config field and its values, in order."""

    field: str
    values: tuple

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))

    def to_dict(self) -> dict:
        return {"field": self.field, "values": list(self.values)}


def split_values(text: str) -> list[str]:
    """Split ``a,b,[c,d],{"e": 1, "f": 2}`` at the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_axis(text: str) -> Axis:
    """An axis from ``field=v1,v2,...``: each value parsed as JSON where possible (``null``, ``3``,
    ``0.5``, ``[80, 120]``), else taken as a string (``magnitude``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError([FieldError("--axis", text, "field=value1,value2,..., e.g. seed=0,1,2")])
    if not raw.strip():
        raise ConfigError([FieldError(key, raw, "at least one value after '=' (an axis with no values)")])
    values = []
    for item in split_values(raw):
        if not item:
            raise ConfigError([FieldError(key, raw, "values separated by single commas (an empty value)")])
        try:
            values.append(json.loads(item))
        except (ValueError, RecursionError):
            values.append(item)
    return Axis(key, tuple(values))


@dataclass(frozen=True)
class Member:
    """One job of the grid: its axis values and its validated config."""

    values: dict
    config: Config


@dataclass
class Grid:
    """The expanded grid: valid members, and every invalid combination with the reason."""

    base: dict
    axes: tuple[Axis, ...]
    zipped: bool
    members: list[Member] = field(default_factory=list)
    invalid: list[tuple[dict, str]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.members) + len(self.invalid)

    def search_cost(self) -> int:
        """Retraining epochs of the whole grid beyond dense training (the AIMP paper's measure)."""
        return sum(m.config.plan().search_cost() * m.config.repeats for m in self.members)

    def total_epochs(self) -> int:
        """Every epoch the grid trains, dense rounds included."""
        return sum(m.config.plan().total_epochs() * m.config.repeats for m in self.members)

    def check(self, confirmed: bool = False) -> None:
        """ConfigError listing every invalid combination (nothing may be queued then), or a grid
        above :data:`MAX_JOBS_WITHOUT_CONFIRMATION` jobs without ``confirmed``."""
        if self.invalid:
            raise ConfigError([FieldError("sweep", describe_values(v), reason) for v, reason in self.invalid])
        if not self.members:
            raise ConfigError([FieldError("sweep", [a.field for a in self.axes], "at least one job")])
        if len(self.members) > MAX_JOBS_WITHOUT_CONFIRMATION and not confirmed:
            raise ConfigError([FieldError("sweep", f"{len(self.members)} jobs",
                                          f"at most {MAX_JOBS_WITHOUT_CONFIRMATION} jobs without confirmation "
                                          "(--yes on the command line)")])


def describe_values(values: dict) -> str:
    """``seed=0, pruner.score=random``: the axis values of one combination."""
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items())


def _known_fields(base: dict) -> set[str]:
    """Dotted fields an axis may vary: those of the base config, and plug-in choices by name. A
    base that is only valid once the axes set their fields (``rewind_epoch = 7`` while varying
    ``training.epochs``) is read as the defaults plus what it gives."""
    try:
        flat = flat_values(Config.from_dict(base).to_dict())
    except ConfigError:
        flat = {**flat_values(Config.from_dict({}).to_dict()), **flat_values(base)}
    return set(flat) | {k[:-len(".name")] for k in flat if k.endswith(".name")}


def expand(base: dict | Config, axes: list[Axis] | tuple[Axis, ...], zipped: bool = False) -> Grid:
    """Every member of the grid over ``base``, validated; ConfigError for a malformed axis (an
    unknown field, no values, a repeated field, zipped axes of different lengths)."""
    base = base.to_dict() if isinstance(base, Config) else copy.deepcopy(base or {})
    axes = tuple(axes)
    problems = []
    known = _known_fields(base)
    seen = set()
    for axis in axes:
        if not axis.values:
            problems.append(FieldError(axis.field, [], "at least one value"))
        if axis.field in seen:
            problems.append(FieldError(axis.field, list(axis.values), "each field on one axis only"))
        seen.add(axis.field)
        if axis.field not in known and not any(k.startswith(axis.field + ".") for k in known):
            close = sorted(k for k in known if k.split(".")[-1] == axis.field.split(".")[-1])[:5]
            problems.append(FieldError(axis.field, list(axis.values),
                                       "a field of the config" + (f", e.g. {', '.join(close)}" if close else
                                                                  " (python -m pruning_core defaults lists them)")))
    if zipped and len({len(a.values) for a in axes}) > 1:
        problems.append(FieldError("--zip", {a.field: len(a.values) for a in axes},
                                   "zipped axes with the same number of values"))
    if problems:
        raise ConfigError(problems)
    grid = Grid(base, axes, zipped)
    combos = zip(*(a.values for a in axes)) if zipped else itertools.product(*(a.values for a in axes))
    by_hash: dict[str, dict] = {}
    for combo in combos:
        values = {a.field: v for a, v in zip(axes, combo)}
        data = copy.deepcopy(base)
        try:
            for key, value in values.items():
                set_dotted(data, key, value)
            config = Config.from_dict(data)
        except ConfigError as exc:
            grid.invalid.append((values, "; ".join(str(e) for e in exc.errors)))
            continue
        digest = config.hash()
        if digest in by_hash:
            grid.invalid.append((values, f"the same experiment as {describe_values(by_hash[digest])}"))
            continue
        by_hash[digest] = values
        grid.members.append(Member(values, config))
    return grid
