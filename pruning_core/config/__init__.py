"""The experiment config: one typed, validated description of a pruning experiment.

* :mod:`.schema` — the sections and :class:`Config` with its derived quantities (τ, p, search cost)
* :mod:`.checks` — constraints between fields
* :mod:`.fields` — field metadata, validation, and the field specs the app's form is built from
* :mod:`.io` — partial JSON/TOML files and ``dotted.key=value`` overrides

Everything here is torch-free: the Streamlit process imports it to build its form.
"""

from .fields import ConfigError, FieldError, FieldSpec, applies, field_specs, option
from .io import defaults, load_config, to_toml
from .schema import (DATASET_NAMES, MODEL_NAMES, AlgorithmConfig, AnalysisConfig, Config, DatasetConfig,
                     ModelConfig, PrunerConfig, TrainingConfig)

__all__ = ["AlgorithmConfig", "AnalysisConfig", "Config", "ConfigError", "DATASET_NAMES", "DatasetConfig",
           "FieldError", "FieldSpec", "MODEL_NAMES", "ModelConfig", "PrunerConfig", "TrainingConfig", "applies",
           "defaults", "field_specs", "load_config", "option", "to_toml"]
