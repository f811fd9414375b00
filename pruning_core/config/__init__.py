"""The experiment config: one typed, validated description of a pruning experiment.

* :mod:`.schema` — the sections and :class:`Config` (the algorithm and the pruner's parts are
  registered plug-ins, each with its own options)
* :mod:`.fields` — field metadata, plug-in choices, and the field specs the app's form and the
  docs are generated from
* :mod:`.values` — building and validating values, refusing values that would not act, a
  chosen method's suggested defaults
* :mod:`.checks` — constraints between fields
* :mod:`.io` — partial JSON/TOML files and ``dotted.key=value`` overrides
* :mod:`.migrate` — configs of the first release's layout
* :mod:`.reference` — the README's configuration reference, generated from the metadata

Everything here is torch-free: the Streamlit process imports it to build its form.
"""

from .fields import ConfigError, FieldError, FieldSpec, applies, option
from .io import defaults, load_config, to_toml
from .schema import (AnalysisConfig, Config, DatasetConfig, ModelConfig, PrunerConfig, TrainingConfig, field_specs,
                     section_titles)

__all__ = ["AnalysisConfig", "Config", "ConfigError", "DatasetConfig", "FieldError", "FieldSpec",
           "ModelConfig", "PrunerConfig", "TrainingConfig", "applies", "defaults", "field_specs",
           "load_config", "option", "section_titles", "to_toml"]
