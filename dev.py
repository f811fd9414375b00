#!/usr/bin/env python3
"""Set-up and everyday commands, needing nothing but Python 3.11+ and pip.

    python3 dev.py run      create .venv, install the requirements, start the app
    python3 dev.py test     create .venv, install the requirements, run the whole test suite
    python3 dev.py bench    the epoch-time benchmark (engine vs. a DataLoader + prune-hooks baseline)
    python3 dev.py gpu-check  CUDA-path checks and speed figures (reduced CPU mode without a GPU)

The virtual environment is reinstalled only when requirements*.txt change (a stamp file holds
their hash). Extra arguments go to the command: ``python3 dev.py test -k config``.

``run`` serves on 127.0.0.1 only: whoever reaches the app can queue jobs. To serve on other
interfaces on purpose, name the address (``python3 dev.py run --server.address 0.0.0.0``, or
``$STREAMLIT_SERVER_ADDRESS``) and put an authenticating proxy in front of it.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
REQUIREMENTS = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt"]
LOCAL_ADDRESS = "127.0.0.1"
ADDRESS_OPTION = "--server.address"
ADDRESS_ENV = "STREAMLIT_SERVER_ADDRESS"


def ensure_venv() -> None:
    """Create .venv and install requirements-dev.txt unless the stamp says they are current."""
    if sys.version_info < (3, 11):
        sys.exit(f"Prunelab needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in REQUIREMENTS)).hexdigest()
    stamp = VENV / ".requirements.sha256"
    if stamp.exists() and stamp.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing requirements (torch and torchvision take a minute)", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    "-r", str(ROOT / "requirements-dev.txt")], check=True)
    stamp.write_text(digest)


def names_address(extra: list[str], environ: dict[str, str] | None = None) -> bool:
    """Whether the user chose the address to serve on: ``--server.address X``,
    ``--server.address=X`` among the extra arguments, or ``$STREAMLIT_SERVER_ADDRESS``."""
    environ = os.environ if environ is None else environ
    return bool(environ.get(ADDRESS_ENV)) or any(a == ADDRESS_OPTION or a.startswith(ADDRESS_OPTION + "=")
                                                 for a in extra)


def command_line(command: str, extra: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """The command ``dev.py <command> <extra…>`` runs. ``run`` binds 127.0.0.1 unless the user
    named an address (:func:`names_address`)."""
    if command == "run":
        local = [] if names_address(extra, environ) else [ADDRESS_OPTION, LOCAL_ADDRESS]
        return [str(PYTHON), "-m", "streamlit", "run", str(ROOT / "app.py"), *local, *extra]
    if command == "test":
        return [str(PYTHON), "-m", "pytest", *(extra or ["-q"])]
    if command == "bench":
        return [str(PYTHON), str(ROOT / "benchmarks" / "bench_epoch.py"), *extra]
    if command == "gpu-check":
        return [str(PYTHON), str(ROOT / "benchmarks" / "gpu_check.py"), *extra]
    raise ValueError(f"unknown command {command!r}; one of run, test, bench, gpu-check")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "bench", "gpu-check"):
        print(__doc__)
        return 2
    args = command_line(argv[0], argv[1:])
    ensure_venv()
    return subprocess.run(args, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
