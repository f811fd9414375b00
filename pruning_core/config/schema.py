"""The experiment config: one typed, validated description of a pruning experiment.

A config is a tree of frozen dataclasses: ``model``, ``dataset``, ``pruner`` (score × unit ×
grouping × selection), ``algorithm`` (a registered algorithm with its own options), ``training``,
``analysis``, plus ``seed``, ``repeats`` and ``device``. It is built from a partial dict (JSON,
TOML or Python) where missing fields take their defaults, validated once, and hashed: the hash
names the experiment. The training defaults are the IAP paper's LeNet-300-100 recipe (Table 1:
Nesterov Adam, lr 1.2e-3, weight decay 1e-4, batch 60, 6 epochs); the pruning rate is the
lottery-ticket paper's 20 % per round.

Errors never come from deep inside torch: :meth:`Config.from_dict` collects every problem as a
:class:`FieldError` naming the dotted field, the value and what is allowed. A value that would
not act under the chosen methods is refused too (:func:`~.values.inactive_errors`).

This module imports no torch: the app builds its form from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import registry
from . import fields
from .checks import SEED_MAX, cross_checks
from .fields import ConfigError, FieldError, FieldSpec, choice, option, type_hints
from .values import (apply_suggestions, build_section, delete_dotted, flat_values, inactive_errors, nesting_error,
                     set_dotted, to_dict)

FRACTION = {"pruner.selection.name": ("fraction",)}


@dataclass(frozen=True)
class ModelConfig:
    title: ClassVar[str] = "Model"
    name: str = option("lenet300_100", "Architecture from the model registry.", choices=registry.MODELS,
                       label="Model")


@dataclass(frozen=True)
class DatasetConfig:
    title: ClassVar[str] = "Dataset"
    name: str = option("digits", "Dataset. 'digits' (scikit-learn's 8x8 digits) is always available "
                       "offline; the others are read from the data dir or downloaded by torchvision.",
                       choices=registry.DATASETS, label="Dataset")
    augment: bool | None = option(None, "Pad-4 random crop + horizontal flip on the device; "
                                  "null = the dataset's default (on for CIFAR, off otherwise).")
    data_dir: str | None = option(None, "Where datasets are looked for and downloaded to; null = "
                                  "$PRUNELAB_DATA or cache/data.", affects_result=False, example="cache/data")
    download: bool = option(True, "Download with torchvision when the files are not found.",
                            affects_result=False)


@dataclass(frozen=True)
class PrunerConfig:
    """Pruner = score × unit × grouping × selection, over the conv and linear weights."""

    title: ClassVar[str] = "Pruner"
    score: Any = choice(registry.SCORES, "magnitude", "What ranks the units: lower scores are pruned first.")
    unit: str = option("weight", "What is removed: single weights, input channels of convs / input "
                       "features of linear layers (Paganini & Forde), output filters / neurons (which also "
                       "removes the next layer's matching inputs: ILP, IAP), or hybrid (convs by input "
                       "channel, linear layers by weight).", choices=registry.UNITS)
    selection: Any = choice(registry.SELECTIONS, "fraction", "Which units go: a fraction of the alive "
                            "ones per group, or every unit scoring at most a threshold.")
    layers: str = option("all", "Which layers are pruned: all conv and linear layers, only the linear "
                         "ones (Paganini's fc-only), or only the convs.", choices=("all", "linear", "conv"))
    grouping: str = option("global", "Which layers are ranked together.", choices=registry.GROUPINGS,
                           when=FRACTION)
    conv_rate: float | None = option(
        None, "Per-round rate of conv layers; null = the algorithm's rate (IAP used 0.1 for convs).",
        low=0.0, high=1.0, high_open=True, example=0.1,
        when={**FRACTION, "pruner.grouping": ("local", "per_type"), "pruner.layers": ("all", "conv")})
    dense_rate: float | None = option(
        None, "Per-round rate of linear layers; null = the algorithm's rate (IAP used 0.2).",
        low=0.0, high=1.0, high_open=True, example=0.2,
        when={**FRACTION, "pruner.grouping": ("local", "per_type"), "pruner.layers": ("all", "linear")})
    output_rate: float | None = option(
        None, "Pruning rate of the output layer; null = the same as the other layers, 0 = never prune it "
        "(the lottery-ticket paper uses half the rate).", low=0.0, high=1.0, high_open=True, example=0.0,
        when={**FRACTION, "pruner.unit": ("weight", "input_channel", "hybrid"), "pruner.layers": ("all", "linear")})


@dataclass(frozen=True)
class TrainingConfig:
    title: ClassVar[str] = "Training"
    epochs: int = option(6, "Epochs T of the dense training (and the length of the LR schedule).",
                         low=1, high=10_000)
    batch_size: int = option(60, "Training batch size.", low=1, high=1_000_000)
    optimizer: str = option("nadam", "Optimizer: SGD (momentum, Nesterov), Adam, or Nesterov Adam "
                            "(NAdam, the IAP paper's choice).", choices=("sgd", "adam", "nadam"))
    lr: float = option(1.2e-3, "Initial learning rate eta_1.", low=0.0, low_open=True, label="LR")
    momentum: float = option(0.9, "SGD momentum.", low=0.0, high=1.0, high_open=True,
                             when={"training.optimizer": ("sgd",)})
    nesterov: bool = option(False, "Nesterov momentum for SGD (needs momentum > 0).",
                            when={"training.optimizer": ("sgd",)})
    weight_decay: float = option(1e-4, "L2 weight decay.", low=0.0)
    lr_schedule: str = option("constant", "LR schedule over the T epochs, stepped every iteration: "
                              "constant, step (x gamma at each milestone), cosine (to 0), linear "
                              "(to 0).", choices=("constant", "step", "cosine", "linear"), label="LR schedule")
    milestones: list[int] = option([], "Epochs at which the step schedule multiplies the LR by gamma.",
                                   when={"training.lr_schedule": ("step",)})
    gamma: float = option(0.1, "Step schedule factor.", low=0.0, high=1.0, low_open=True,
                          when={"training.lr_schedule": ("step",)})
    warmup_epochs: float = option(0.0, "Linear warm-up from 0 over this many epochs (any schedule).",
                                  low=0.0)
    grad_clip: float | None = option(None, "Clip the global gradient norm to this value; null = off "
                                     "(AIMP used 1.0).", low=0.0, low_open=True, example=1.0)
    eval_batch_size: int = option(1000, "Batch size for evaluation (does not change results).",
                                  low=1, high=1_000_000, affects_result=False)


@dataclass(frozen=True)
class AnalysisConfig:
    title: ClassVar[str] = "Analysis"
    mask_dynamics: bool = option(False, "Per epoch: the potential mask that pruning would give now, D and "
                                 "D~ (fraction changed since the previous epoch, of the current and the "
                                 "original parameter count), and the parameters' L-inf and L1-TOP(k) "
                                 "(AIMP section V-F).")
    topk: int = option(1000, "k of L1-TOP(k).", low=1, high=100_000_000, when={"analysis.mask_dynamics": (True,)},
                       label="Top-k")


@dataclass(frozen=True)
class Config:
    title: ClassVar[str] = "Seeds and device"
    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    pruner: PrunerConfig = field(default_factory=PrunerConfig)
    algorithm: Any = choice(registry.ALGORITHMS, "imp", "How pruning and training alternate.",
                            label="Algorithm")
    training: TrainingConfig = field(default_factory=TrainingConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    seed: int = option(0, "Seed of the first repeat; repeat i uses seed + i (a 32-bit seed: the engine "
                       "seeds round r with seed · 1000003 + r, which must fit torch's 64-bit generator).",
                       low=0, high=SEED_MAX)
    repeats: int = option(1, "Independent runs with seeds seed, seed+1, ...; results report the "
                          "median and min/max per round. seed + repeats − 1 must stay a 32-bit seed.",
                          low=1, high=100)
    device: str = option("auto", "'auto' (CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:N', "
                         "or 'mps'.", affects_result=False)

    # ---- construction ------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict | None = None) -> Config:
        """Build and validate a config from a partial nested dict; raise ConfigError on any problem.

        Fields a chosen method suggests take those values unless the dict gives them (and a
        suggested value that would not act is left out). A config in the first release's layout
        (``pruner.method``, ``algorithm.rewind``, ...) is read through :func:`~.migrate.migrate`;
        its values that never acted are dropped, as that release ignored them. ``None`` is the
        empty dict (the defaults); anything else that is not a dict is refused, as is a dict that
        nests deeper than :data:`~.values.MAX_DEPTH`.
        """
        from .migrate import is_legacy, migrate

        data = {} if data is None else data
        too_deep = nesting_error(data)
        if too_deep is not None:
            raise ConfigError([too_deep])
        legacy = is_legacy(data)
        if legacy:
            data = migrate(data)
        data, suggested = apply_suggestions(cls, data)
        for attempt in range(2):
            errors: list[FieldError] = []
            config = build_section(cls, data, "", errors)
            if errors:
                raise ConfigError(errors)
            inactive = inactive_errors(config)
            droppable = [e.field for e in inactive if legacy or e.field in suggested]
            if droppable and attempt == 0:
                for dotted in droppable:
                    delete_dotted(data, dotted)
                continue
            errors = inactive + cross_checks(config)
            break
        if errors:
            raise ConfigError(errors)
        return config

    def to_dict(self) -> dict:
        """The complete config as a JSON-ready nested dict."""
        return to_dict(self)

    def replace(self, **dotted: Any) -> Config:
        """A validated copy with dotted overrides, e.g. ``replace(**{"training.epochs": 3})``."""
        data = self.to_dict()
        for key, value in dotted.items():
            set_dotted(data, key, value)
        return Config.from_dict(data)

    # ---- identity ----------------------------------------------------------------------------

    def hash(self) -> str:
        """SHA-256 of the canonical JSON of everything that defines the experiment: every field
        but those marked ``affects_result=False`` (device, data dir, download, eval batch size),
        which say where and how fast it runs, not what it computes."""
        data = self.to_dict()
        for spec in fields.field_specs(type(self), flat_values(data)):
            if not spec.affects_result:
                *parents, leaf = spec.path.split(".")
                node = data
                for part in parents:
                    node = node[part]
                node.pop(leaf)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    # ---- what it will do ---------------------------------------------------------------------

    def plan(self):
        """The algorithm's :class:`~pruning_core.plan.Plan`: every round, its epochs, LR and sparsity."""
        return self.algorithm.plan(self)



def field_specs(cls: type | None = None, values: dict[str, Any] | None = None, prefix: str = "") -> list[FieldSpec]:
    """Every leaf field of the config (or of the section ``cls``), with the options of the
    plug-ins ``values`` chooses (else the defaults): what the form and the docs are built from."""
    return fields.field_specs(Config if cls is None else cls, values, prefix)


def section_titles() -> dict[str, str]:
    """{top-level section: its title} for the form ("" = the top-level fields)."""
    hints = type_hints(Config)
    titles = {"": Config.title}
    for f in dataclasses.fields(Config):
        if "registry" in f.metadata:
            titles[f.name] = f.metadata["label"] or f.name.capitalize()
        elif dataclasses.is_dataclass(hints[f.name]):
            titles[f.name] = getattr(hints[f.name], "title", f.name.capitalize())
    return titles
