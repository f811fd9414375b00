"""The README and the example configs stay true to the code."""

import pathlib

import pytest

from pruning_core.config import field_specs, load_config

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_readme_documents_every_config_field():
    readme = (ROOT / "README.md").read_text()
    missing = [s.path for s in field_specs() if f"`{s.path}`" not in readme]
    assert not missing, f"README's configuration reference lacks {missing}"


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_are_valid(path):
    load_config(path)
