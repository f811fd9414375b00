"""The ``prunelab`` command (``pip install .``): ``prunelab app`` starts the app, and every other
subcommand is ``python -m pruning_core``'s (``run``, ``sweep``, ``list``, ``show``, ``export``, …)::

    prunelab app                          # the app at http://127.0.0.1:8501
    prunelab app --server.port 8502       # further arguments go to `streamlit run`
    prunelab run --set dataset.name=digits
    prunelab --cache DIR list

Where the app's files are (:func:`app_dir`): in a source checkout or an editable install
(``pip install -e .``), the repository root; in an installed wheel, the copy the build put in
``prunelab/app_files/`` (:mod:`prunelab._build`). Like ``python3 dev.py run``, ``prunelab app``
serves on 127.0.0.1 unless the user names an address (``--server.address``, or
``$STREAMLIT_SERVER_ADDRESS``).

Installed from a wheel (not a checkout), the job store defaults to ``~/.cache/prunelab``
(``$XDG_CACHE_HOME/prunelab``) rather than a ``cache/`` folder inside site-packages, which an upgrade
would delete; ``--cache DIR`` or ``$PRUNELAB_CACHE`` choose another, as everywhere.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parent
APP_FILES_DIR = "app_files"            # prunelab._build.APP_FILES_DIR (the build step is not imported here)
LOCAL_ADDRESS = "127.0.0.1"
ADDRESS_OPTION = "--server.address"
ADDRESS_ENV = "STREAMLIT_SERVER_ADDRESS"
CACHE_ENV, DATA_ENV, PLUGINS_ENV = "PRUNELAB_CACHE", "PRUNELAB_DATA", "PRUNELAB_PLUGINS"

APP_HELP = """usage: prunelab [--cache DIR] [--plugin FILE] app [STREAMLIT_OPTIONS ...]

Start the Prunelab app: `streamlit run <app.py> --server.address 127.0.0.1 [STREAMLIT_OPTIONS ...]`.
Options after `app` go to `streamlit run` (e.g. --server.port 8502, --server.headless true);
naming --server.address (or $STREAMLIT_SERVER_ADDRESS) replaces 127.0.0.1: whoever reaches the
app can queue jobs, so put an authenticating proxy in front of it.

app files: {app}
"""


def source_checkout() -> pathlib.Path | None:
    """The repository root when this package runs from a checkout (or an editable install)."""
    root = PACKAGE.parent
    if (root / "app.py").is_file() and (root / "ui").is_dir() and (root / "pruning_core").is_dir():
        return root
    return None


def app_dir() -> pathlib.Path:
    """The folder holding the app's ``app.py``, ``pages/``, ``ui/`` and ``.streamlit/config.toml``."""
    root = source_checkout()
    if root is not None:
        return root
    shipped = PACKAGE / APP_FILES_DIR
    if (shipped / "app.py").is_file():
        return shipped
    raise FileNotFoundError(f"the app's files are missing: no {shipped / 'app.py'} (reinstall Prunelab from its "
                            "wheel, or run from a checkout)")


def names_address(extra: list[str], environ: dict[str, str] | None = None) -> bool:
    """Whether the user chose the address to serve on (as ``dev.py``'s function of the same name)."""
    environ = os.environ if environ is None else environ
    return bool(environ.get(ADDRESS_ENV)) or any(a == ADDRESS_OPTION or a.startswith(ADDRESS_OPTION + "=")
                                                 for a in extra)


def app_command(extra: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """``streamlit run <app.py>``, on 127.0.0.1 unless the user named an address."""
    local = [] if names_address(extra, environ) else [ADDRESS_OPTION, LOCAL_ADDRESS]
    return [sys.executable, "-m", "streamlit", "run", str(app_dir() / "app.py"), *local, *extra]


def _split_globals(argv: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """({"--cache": [...], "--plugin": [...]}, the rest from the subcommand on)."""
    found: dict[str, list[str]] = {"--cache": [], "--plugin": []}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name not in found:
            break
        if not eq:
            if i + 1 >= len(argv):
                break
            value, i = argv[i + 1], i + 1
        found[name].append(value)
        i += 1
    return found, argv[i:]


def installed_defaults(environ: dict[str, str]) -> None:
    """Outside a checkout: the store in the user's cache folder unless $PRUNELAB_CACHE names one
    (and the datasets in its data/ unless $PRUNELAB_DATA does)."""
    if source_checkout() is not None or environ.get(CACHE_ENV):
        return
    base = pathlib.Path(environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "prunelab"
    environ[CACHE_ENV] = str(base)
    environ.setdefault(DATA_ENV, str(base / "data"))


def run_app(options: dict[str, list[str]], extra: list[str]) -> int:
    if any(a in ("-h", "--help") for a in extra):
        try:
            where = str(app_dir())
        except FileNotFoundError as exc:
            where = f"missing ({exc})"
        print(APP_HELP.format(app=where), end="")
        return 0
    env = dict(os.environ)
    if options["--cache"]:
        env[CACHE_ENV] = str(pathlib.Path(options["--cache"][-1]).expanduser().resolve())
    if options["--plugin"]:
        env[PLUGINS_ENV] = os.pathsep.join(str(pathlib.Path(p).expanduser().resolve()) for p in options["--plugin"])
    installed_defaults(env)
    try:
        command = app_command(extra, env)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return subprocess.run(command, env=env).returncode
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    """``prunelab [--cache DIR] [--plugin FILE] COMMAND …``; returns the exit status (the console
    script exits with it)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    options, rest = _split_globals(argv)
    if rest and rest[0] == "app":
        return run_app(options, rest[1:])
    if not rest or rest[0] in ("-h", "--help"):
        print("prunelab app [STREAMLIT_OPTIONS]: start the app (prunelab app --help); and the engine's commands:")
    installed_defaults(os.environ)
    from pruning_core.__main__ import main as engine_main

    return engine_main(argv)


if __name__ == "__main__":
    sys.exit(main())
