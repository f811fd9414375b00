"""The wheel's build step (pyproject.toml's ``[tool.setuptools.cmdclass]``): build_py, plus the
app's files copied from the repository root into ``prunelab/app_files/``.

The app is a top-level ``app.py`` with ``pages/``, the ``ui`` package and ``.streamlit/config.toml``
next to it. The wheel keeps that layout under ``prunelab/app_files/``: ``streamlit run`` puts the
script's folder on ``sys.path`` (so ``import ui`` finds ``app_files/ui``) and reads the
``.streamlit/config.toml`` beside the script whatever the working directory is. An editable install
copies nothing: ``prunelab app`` runs the checkout's own files (:func:`prunelab.cli.app_dir`).
"""

from __future__ import annotations

import pathlib
import shutil

from setuptools.command.build_py import build_py

# The app's files, relative to the repository root (the folder of pyproject.toml).
APP_FILES = ("app.py", "pages/*.py", "ui/*.py", ".streamlit/config.toml")
APP_FILES_DIR = "app_files"


def app_sources(root: pathlib.Path) -> list[pathlib.Path]:
    """The files of APP_FILES under ``root``, sorted; RuntimeError if there is no ``app.py``."""
    found = [path for pattern in APP_FILES for path in sorted(root.glob(pattern))]
    if not (root / "app.py").is_file():
        raise RuntimeError(f"no app.py in {root}: build the wheel from a checkout or from a complete sdist")
    return found


class BuildWithApp(build_py):
    """build_py, then a copy of the app's files in ``<build>/prunelab/app_files/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = pathlib.Path.cwd()            # setuptools builds in the project folder
        target = pathlib.Path(self.build_lib) / "prunelab" / APP_FILES_DIR
        shutil.rmtree(target, ignore_errors=True)     # a reused build/ folder keeps no deleted page
        for path in app_sources(root):
            dest = target / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
