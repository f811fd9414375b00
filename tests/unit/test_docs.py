"""The README and the example configs stay true to the code."""

import pathlib
import re

import pytest

from pruning_core.config import field_specs, load_config
from pruning_core.config.reference import block, reference_markdown

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_reference_is_the_generated_one():
    assert block(README) == reference_markdown(), \
        "README's configuration reference is stale: run `python -m pruning_core reference --update README.md`"


def test_the_reference_lists_every_field_and_every_method():
    reference = reference_markdown()
    for algorithm in ("imp", "one_shot", "bimp", "at_init", "gradual", "asni"):
        for spec in field_specs(values={"algorithm.name": algorithm}):
            assert f"`{spec.path}`" in reference, spec.path
    for name in ("magnitude", "random", "activation", "snip", "taylor", "threshold", "replay", "allr", "sigmoid",
                 "polynomial"):
        assert f"**`{name}`**" in reference, name


def test_the_readme_shows_the_example_plugin_as_it_is():
    code = (ROOT / "examples" / "magnitude_increase.py").read_text()
    body = code[code.index("from pruning_core.api"):].strip()
    shown = re.search(r"```python\n(from pruning_core.api import Score.*?)```", README, re.S).group(1).strip()
    assert shown == body


def test_no_links_to_files_outside_the_repository():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "../shared" not in path.read_text(), path


@pytest.mark.parametrize("path", sorted((ROOT / "configs").rglob("*.toml")), ids=lambda p: p.name)
def test_example_configs_are_valid(path):
    load_config(path)
