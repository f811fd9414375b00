"""Where plug-ins register: one :class:`Registry` per kind of method, and the plug-in file loader.

A *plug-in* is anything a user can choose by name in a config: a pruning score, a unit, a layer
grouping, a selection rule, a sparsity schedule, a retraining LR policy, a weight treatment, an
algorithm, a model, a dataset. Each kind has one registry here; the config, the CLI, the app's
form and the docs read their choices from it, so a registered name appears everywhere at once.

Built-in methods register themselves when their modules are imported; the registries import
those modules by name on first use (:data:`BUILTIN_MODULES`), and then load the plug-in files
shipped in ``pruning_core/plugins/`` exactly as a user's own files are loaded
(:func:`load_plugin`). A user's plug-in files come from ``--plugin`` on the command line, or
``$PRUNELAB_PLUGINS`` (files or folders, separated by ``os.pathsep``), else ``./plugins/``
(:func:`plugin_paths_from_env`).

Nothing here imports torch: the app reads the registries to draw its form.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib
import importlib.util
import inspect
import os
import pathlib
import sys
from dataclasses import dataclass
from typing import Any, Iterator

# Modules whose import registers the built-in methods (imported by name: plug-in discovery).
BUILTIN_MODULES = (
    "pruning_core.catalog",            # models and datasets (names; implementations load lazily)
    "pruning_core.pruners.scores",     # magnitude, random, activation
    "pruning_core.pruners.vocabulary", # units, groupings, selections
    "pruning_core.schedules",          # sparsity schedules
    "pruning_core.lr_policies",        # retraining LR policies
    "pruning_core.treatments",         # weight treatments
    "pruning_core.algorithms",         # imp, one_shot, bimp, at_init, gradual, asni
)
SHIPPED_PLUGINS = pathlib.Path(__file__).resolve().parent / "plugins"


class PluginError(Exception):
    """A plug-in file that failed to load, or a name registered twice; the message names the file."""


@dataclass(frozen=True)
class Entry:
    """One registered name: the object (or ``module:attribute`` to import on first use), where it
    was registered, and the text the form and the docs show for it."""

    name: str
    target: Any
    origin: str
    help: str
    label: str

    def load(self) -> Any:
        return load_object(self.target) if isinstance(self.target, str) else self.target


def load_object(target: str) -> Any:
    """The object ``module:attribute`` names (imported on first use)."""
    module, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


_loading: contextvars.ContextVar[str | None] = contextvars.ContextVar("prunelab_plugin_file", default=None)
_builtins_state = {"loaded": False, "loading": False}
_loaded_files: dict[str, list[tuple[str, str]]] = {}   # plug-in file -> [(kind, name)] it registered
REGISTRIES: dict[str, "Registry"] = {}


def _first_line(text: str | None) -> str:
    text = inspect.cleandoc(text or "")
    return text.split("\n\n")[0].replace("\n", " ").strip()


class Registry:
    """Names of one kind of plug-in, in registration order.

    ``field`` is the config path where the name is chosen (``pruner.score``): errors about
    unknown names name that field and list the registered ones.
    """

    def __init__(self, kind: str, field: str):
        self.kind, self.field = kind, field
        self._entries: dict[str, Entry] = {}
        REGISTRIES[kind] = self

    # ---- registering -------------------------------------------------------------------------

    def register(self, name: str, target: Any = None, *, help: str | None = None,
                 label: str | None = None) -> Any:
        """Register ``target`` under ``name``; used bare as a decorator when ``target`` is None.

        ``help`` defaults to the first paragraph of the target's docstring and ``label`` to the
        name. A class registered here gets ``plugin_name`` set to ``name``. A name registered
        twice raises :class:`PluginError` naming both places.
        """
        if target is None:
            return lambda obj: self.register(name, obj, help=help, label=label)
        if not isinstance(name, str) or not name.isidentifier():
            raise PluginError(f"{_origin()}: {self.kind} name {name!r} must be a Python identifier "
                              "(letters, digits, underscores)")
        if name in self._entries:
            raise PluginError(f"{_origin()}: registers the {self.kind} {name!r}, which "
                              f"{self._entries[name].origin} already registered")
        text = help if help is not None else _first_line(getattr(target, "__doc__", None))
        if isinstance(target, type):
            target.plugin_name = name
        self._entries[name] = Entry(name, target, _origin(), text, label or name)
        return target

    def declare(self, name: str, target: str, *, help: str, label: str | None = None) -> None:
        """Register a built-in whose implementation lives in ``module:attribute`` and is imported
        only when used (so that torch-heavy code stays out of the app's process)."""
        self.register(name, target, help=help, label=label)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    # ---- reading -----------------------------------------------------------------------------

    def names(self) -> tuple[str, ...]:
        ensure_builtins()
        return tuple(self._entries)

    def entry(self, name: str) -> Entry:
        ensure_builtins()
        if name not in self._entries:
            raise KeyError(f"{self.field}: unknown {self.kind} {name!r}; allowed: {', '.join(self._entries)}")
        return self._entries[name]

    def get(self, name: str) -> Any:
        return self.entry(name).load()

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        ensure_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


SCORES = Registry("score", "pruner.score")
UNITS = Registry("unit", "pruner.unit")
GROUPINGS = Registry("grouping", "pruner.grouping")
SELECTIONS = Registry("selection", "pruner.selection")
SCHEDULES = Registry("schedule", "algorithm.schedule")
LR_POLICIES = Registry("lr_policy", "algorithm.lr_policy")
TREATMENTS = Registry("treatment", "algorithm.treatment")
ALGORITHMS = Registry("algorithm", "algorithm")
MODELS = Registry("model", "model.name")
DATASETS = Registry("dataset", "dataset.name")


def _origin() -> str:
    file = _loading.get()
    if file is not None:
        return file
    frame = inspect.currentframe()
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    return frame.f_globals.get("__name__", "?") if frame is not None else "?"


# --------------------------------------------------------------------------------------------
# Built-ins and plug-in files
# --------------------------------------------------------------------------------------------

def ensure_builtins() -> None:
    """Import the built-in methods and the shipped plug-ins, once per process."""
    if _builtins_state["loaded"] or _builtins_state["loading"]:
        return
    _builtins_state["loading"] = True
    try:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        for path in sorted(SHIPPED_PLUGINS.glob("*.py")):
            if not path.name.startswith("_"):
                load_plugin(path)
        _builtins_state["loaded"] = True
    finally:
        _builtins_state["loading"] = False


def load_plugin(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Import one plug-in file; return the (kind, name) pairs it registered.

    Loading the same file again does nothing. A file that raises while loading, or registers a
    name that is already taken, raises :class:`PluginError` naming the file, and what it had
    registered before failing is removed again, so the other methods keep working.
    """
    ensure_builtins()
    path = pathlib.Path(path).expanduser().resolve()
    key = str(path)
    if key in _loaded_files:
        return _loaded_files[key]
    if not path.is_file() or path.suffix != ".py":
        raise PluginError(f"plug-in {path}: not a Python file")
    before = {kind: set(r._entries) for kind, r in REGISTRIES.items()}
    module_name = f"prunelab_plugin_{path.stem}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    token = _loading.set(key)
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        for kind, registry in REGISTRIES.items():
            for name in set(registry._entries) - before[kind]:
                registry.unregister(name)
        if isinstance(exc, PluginError):
            raise
        raise PluginError(f"plug-in {path} failed to load: {type(exc).__name__}: {exc}") from exc
    finally:
        _loading.reset(token)
    added = [(kind, name) for kind, r in REGISTRIES.items() for name in r._entries if name not in before[kind]]
    _loaded_files[key] = added
    return added


def load_plugins(paths: list[str | os.PathLike], *, strict: bool = True) -> list[PluginError]:
    """Load several plug-in files (a folder stands for its ``*.py`` files).

    ``strict``: raise the first error; otherwise load what loads and return the errors (the app
    shows them and keeps working)."""
    errors = []
    for path in expand_plugin_paths(paths):
        try:
            load_plugin(path)
        except PluginError as exc:
            if strict:
                raise
            errors.append(exc)
    return errors


def expand_plugin_paths(paths: list[str | os.PathLike]) -> list[pathlib.Path]:
    """Files as given; folders as their ``*.py`` files (sorted; names starting with _ skipped)."""
    out = []
    for raw in paths:
        path = pathlib.Path(raw).expanduser()
        if path.is_dir():
            out += [p for p in sorted(path.glob("*.py")) if not p.name.startswith("_")]
        else:
            out.append(path)
    return out


def plugin_paths_from_env() -> list[pathlib.Path]:
    """``$PRUNELAB_PLUGINS`` (files or folders, separated by ``os.pathsep``), else ``./plugins``."""
    value = os.environ.get("PRUNELAB_PLUGINS")
    if value is not None:
        return [pathlib.Path(p) for p in value.split(os.pathsep) if p.strip()]
    default = pathlib.Path("plugins")
    return [default] if default.is_dir() else []


def loaded_plugin_files() -> list[str]:
    """The user plug-in files loaded in this process (shipped ones excluded), in load order."""
    return [f for f in _loaded_files if not f.startswith(str(SHIPPED_PLUGINS))]


def unload_plugin(path: str | os.PathLike) -> None:
    """Forget a plug-in file and every name it registered (tests, and a notebook reloading a file)."""
    key = str(pathlib.Path(path).expanduser().resolve())
    for kind, name in _loaded_files.pop(key, []):
        REGISTRIES[kind].unregister(name)


@contextlib.contextmanager
def temporary_plugin(path: str | os.PathLike) -> Iterator[list[tuple[str, str]]]:
    """Load a plug-in file for the duration of a ``with`` block, then forget it."""
    added = load_plugin(path)
    try:
        yield added
    finally:
        unload_plugin(path)
