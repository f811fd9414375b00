"""The experiment config: one typed, validated description of a pruning experiment.

A config is a tree of frozen dataclasses (``model``, ``dataset``, ``pruner``, ``algorithm``,
``training`` plus ``seed``, ``repeats``, ``device``). It is built from a partial dict (JSON, TOML
or Python), where missing fields take their defaults, validated once, and hashed: the hash names
the experiment. Every default reproduces a paper setting: the training section is the IAP paper's
LeNet-300-100 recipe (Table 1: Nesterov Adam, lr 1.2e-3, weight decay 1e-4, batch 60, 6 epochs,
rewind to epoch 5), the pruning rate is the lottery-ticket paper's 20 % per round.

Every field carries metadata (help text, allowed values, bounds, and ``when``: the condition under
which it applies), so the app can generate its form from this module and a new option appears in
the form without touching a page. This module deliberately imports no torch.

Errors never come from deep inside torch: :func:`Config.from_dict` collects every problem as a
:class:`FieldError` naming the dotted field, the value and what is allowed, and raises one
:class:`ConfigError` holding them all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .fields import ConfigError, FieldError, build_section, option, set_dotted

# Registry names, duplicated here so that this module stays torch-free (the app imports it to
# build its form). tests/unit/test_config.py checks them against models.MODELS / data.DATASETS.
MODEL_NAMES = ("lenet300_100", "lenet5", "conv2", "conv4", "conv6", "vgg11", "vgg13", "vgg16",
               "vgg19", "resnet20", "resnet56", "resnet18")
DATASET_NAMES = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100")


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelConfig:
    name: str = option("lenet300_100", "Architecture from the model registry.", choices=MODEL_NAMES)


@dataclass(frozen=True)
class DatasetConfig:
    name: str = option("digits", "Dataset. 'digits' (scikit-learn's 8x8 digits) is always available "
                       "offline; the others are read from the data dir or downloaded by torchvision.",
                       choices=DATASET_NAMES)
    augment: bool | None = option(None, "Pad-4 random crop + horizontal flip on the device; "
                                  "null = the dataset's default (on for CIFAR, off otherwise).")
    data_dir: str | None = option(None, "Where datasets are looked for and downloaded to; null = "
                                  "$PRUNELAB_DATA or cache/data.")
    download: bool = option(True, "Download with torchvision when the files are not found.")


@dataclass(frozen=True)
class PrunerConfig:
    method: str = option("magnitude", "Score: magnitude (|w|, or the Ln norm of a channel/filter), "
                         "random (the control), activation (IAP: mean post-ReLU activation of each "
                         "filter/neuron over one training batch), aiap (AIAP: prune filters whose mean "
                         "activation is <= the adaptive threshold T[r]).",
                         choices=("magnitude", "random", "activation", "aiap"))
    structure: str = option("unstructured", "What is removed: single weights; input channels of convs "
                            "/ input features of linear layers (Paganini & Forde's structured pruning); "
                            "output filters/neurons, which also removes the matching input channel of the "
                            "next layer (ILP, IAP); hybrid = convs by input channel, linear layers "
                            "unstructured.", choices=("unstructured", "channels", "filters", "hybrid"))
    norm: str = option("l1", "Norm that scores a channel or filter for structured magnitude pruning "
                       "(linf = the largest magnitude in the slice).", choices=("l1", "l2", "linf"),
                       when={"pruner.method": ("magnitude",),
                             "pruner.structure": ("channels", "filters", "hybrid")})
    layers: str = option("all", "Which layers are pruned: all conv and linear layers, only the linear "
                         "ones (Paganini's fc-only), or only the convs.", choices=("all", "linear", "conv"))
    scope: str = option("global", "Rank over all pruned layers together (global), within each layer "
                        "(local), or within each layer type, convs apart from linear layers (per_type).",
                        choices=("global", "local", "per_type"))
    conv_rate: float | None = option(None, "Per-round rate of conv layers; null = algorithm.rate (IAP "
                                     "used 0.1 for convs).", low=0.0, high=1.0, high_open=True)
    dense_rate: float | None = option(None, "Per-round rate of linear layers; null = algorithm.rate "
                                      "(IAP used 0.2).", low=0.0, high=1.0, high_open=True)
    output_rate: float | None = option(
        None, "Pruning rate of the output layer; null = the same as every other layer, 0 = never "
        "prune it (the lottery-ticket paper uses half the rate).", low=0.0, high=1.0, high_open=True)
    activation_batch: int = option(60, "Training images whose activations score filters (IAP used one "
                                   "batch of 60 for LeNets).", low=1,
                                   when={"pruner.method": ("activation", "aiap")})
    aiap_lambda: float = option(0.01, "AIAP's lambda: the threshold step T[r] = T[r-1] + lambda.", low=0.0,
                                low_open=True, when={"pruner.method": ("aiap",)})
    aiap_start_round: int = option(3, "AIAP keeps T[r] = 0 for rounds r <= this.", low=0,
                                   when={"pruner.method": ("aiap",)})
    aiap_min_change: float = option(0.01, "AIAP raises T when the fraction d of conv parameters removed "
                                    "in the previous round is below this.", low=0.0, high=1.0,
                                    when={"pruner.method": ("aiap",)})


_IMP = ("imp", "one_shot")
_ROUNDS = ("imp", "one_shot", "bimp")


@dataclass(frozen=True)
class AlgorithmConfig:
    name: str = option("imp", "imp: rounds of prune -> treat weights -> retrain (AIMP when "
                       "partial_epochs is set); one_shot: a single round; asni: one run that raises the "
                       "global sparsity after every epoch on a sigmoid (ASNI-I, then ASNI-II); gradual: "
                       "the same on Zhu & Gupta's cubic schedule; bimp: budgeted IMP (dense training for "
                       "bimp_dense_epochs on a linear schedule, then IMP with ALLR in the rest of "
                       "training.epochs).", choices=("imp", "one_shot", "asni", "gradual", "bimp"))
    rounds: int = option(5, "Number of pruning rounds R (round 0, the dense training, not counted).",
                         low=1, high=200, when={"algorithm.name": ("imp", "bimp")})
    rate: float = option(0.2, "Per-round pruning rate p: the fraction of the still-alive weights "
                         "(or channels) removed each round, so sparsity after r rounds is 1 - (1 - p)^r.",
                         low=0.0, high=1.0, low_open=True, high_open=True,
                         when={"algorithm.name": _ROUNDS, "algorithm.target_sparsity": (None,)})
    target_sparsity: float | None = option(
        None, "Final sparsity s. For rounds, p = 1 - (1 - s)^(1/rounds) replaces 'rate'; for asni and "
        "gradual it is the sparsity after the last epoch (asni: alpha is solved from it).",
        low=0.0, high=1.0, low_open=True, high_open=True)
    rewind: str = option("weights", "After pruning: 'weights' = weight rewinding (WR: weights and LR "
                         "schedule back to epoch k), 'lr' = learning-rate rewinding (LRR: keep the "
                         "weights, replay the schedule from epoch k), 'none' = fine-tuning (keep the "
                         "weights, constant last LR).", choices=("weights", "lr", "none"),
                         when={"algorithm.name": _IMP})
    rewind_epoch: int = option(5, "Rewind epoch k (k = 0 is the original lottery ticket); each "
                               "round retrains T - k epochs.", low=0, when={"algorithm.name": _IMP})
    partial_epochs: int | None = option(
        None, "AIMP's tau: intermediate rounds retrain tau - k epochs instead of T - k; the last "
        "round retrains the full T - k. null = plain IMP.", low=1, when={"algorithm.name": ("imp",)})
    reinit: str = option("none", "With weight rewinding, restart each round from sigma*sign(w0) "
                         "(sigma = the layer's std at initialisation), sign(w0) alone (the failing "
                         "control), or a fresh random initialisation, instead of theta_k.",
                         choices=("none", "sigma_sign", "sign", "random"),
                         when={"algorithm.name": _IMP, "algorithm.rewind": ("weights",)})
    lr_policy: str = option("default", "Retraining LR policy when weights are kept (BIMP paper): "
                            "default = what 'rewind' implies (LRR replays from k, fine-tuning holds the "
                            "last LR); ft, lrw, slr, clr, llr, allr over retrain_epochs epochs.",
                            choices=("default", "ft", "lrw", "slr", "clr", "llr", "allr"),
                            when={"algorithm.name": _IMP, "algorithm.rewind": ("lr", "none")})
    retrain_epochs: int | None = option(None, "T_rt: epochs of each retraining with an lr_policy; null "
                                        "= T - k.", low=1, when={"algorithm.name": _IMP,
                                                                  "algorithm.rewind": ("lr", "none")})
    warmup_fraction: float = option(0.1, "LLR/ALLR/CLR warm-up, as a fraction of each retraining "
                                    "(the BIMP paper's 'short warm-up').", low=0.0, high=1.0,
                                    high_open=True,
                                    when=({"algorithm.name": _IMP, "algorithm.rewind": ("lr", "none"),
                                           "algorithm.lr_policy": ("clr", "llr", "allr")},
                                          {"algorithm.name": ("bimp",)}))
    sigmoid_alpha: float | None = option(
        None, "ASNI's alpha: final-sparsity scale of p_e = alpha * sigmoid((e - beta E)/gamma); null = "
        "solved so that the last epoch hits target_sparsity.", low=0.0, high=1.0, low_open=True,
        high_open=True, when={"algorithm.name": ("asni",)})
    sigmoid_beta: float = option(0.5, "ASNI's beta: where the sigmoid's inflection sits, as a fraction "
                                 "of E.", low=0.0, high=1.0, when={"algorithm.name": ("asni",)})
    sigmoid_gamma: float | None = option(None, "ASNI's gamma: the transition's width in epochs; null = "
                                         "E/10.", low=0.0, low_open=True, when={"algorithm.name": ("asni",)})
    amenable: bool = option(True, "ASNI-II: after ASNI-I, retrain its mask from the two-centroid init "
                            "(c+, c- per layer) and from the original init (the paper's T1-A-II and T1-S).",
                            when={"algorithm.name": ("asni",)})
    gradual_start: int = option(0, "Gradual: first epoch at which sparsity rises (t0).", low=0,
                                when={"algorithm.name": ("gradual",)})
    gradual_end: int | None = option(None, "Gradual: epoch at which the target is reached; null = 3/4 "
                                     "of training.epochs.", low=1, when={"algorithm.name": ("gradual",)})
    bimp_dense_epochs: int = option(2, "BIMP's T0: dense training epochs within the budget "
                                    "training.epochs.", low=1, when={"algorithm.name": ("bimp",)})


@dataclass(frozen=True)
class AnalysisConfig:
    mask_dynamics: bool = option(False, "Per epoch: the potential mask that pruning would give now, D and "
                                 "D~ (fraction changed since the previous epoch, of the current and the "
                                 "original parameter count), and the parameters' L-inf and L1-TOP(k) "
                                 "(AIMP section V-F).")
    topk: int = option(1000, "k of L1-TOP(k).", low=1, when={"analysis.mask_dynamics": (True,)})


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = option(6, "Epochs T of the dense training (and the length of the LR schedule).",
                         low=1, high=10_000)
    batch_size: int = option(60, "Training batch size.", low=1, high=1_000_000)
    optimizer: str = option("nadam", "Optimizer: SGD (momentum, Nesterov), Adam, or Nesterov Adam "
                            "(NAdam, the IAP paper's choice).", choices=("sgd", "adam", "nadam"))
    lr: float = option(1.2e-3, "Initial learning rate eta_1.", low=0.0, low_open=True)
    momentum: float = option(0.9, "SGD momentum.", low=0.0, high=1.0, high_open=True,
                             when={"training.optimizer": ("sgd",)})
    nesterov: bool = option(False, "Nesterov momentum for SGD.", when={"training.optimizer": ("sgd",)})
    weight_decay: float = option(1e-4, "L2 weight decay.", low=0.0)
    lr_schedule: str = option("constant", "LR schedule over the T epochs, stepped every iteration: "
                              "constant, step (x gamma at each milestone), cosine (to 0), linear "
                              "(to 0).", choices=("constant", "step", "cosine", "linear"))
    milestones: list[int] = option([], "Epochs at which the step schedule multiplies the LR by gamma.",
                                   when={"training.lr_schedule": ("step",)})
    gamma: float = option(0.1, "Step schedule factor.", low=0.0, high=1.0, low_open=True,
                          when={"training.lr_schedule": ("step",)})
    warmup_epochs: float = option(0.0, "Linear warm-up from 0 over this many epochs (any schedule).",
                                  low=0.0)
    grad_clip: float | None = option(None, "Clip the global gradient norm to this value; null = off "
                                     "(AIMP used 1.0).", low=0.0, low_open=True)
    eval_batch_size: int = option(1000, "Batch size for evaluation (does not change results).",
                                  low=1)


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    pruner: PrunerConfig = field(default_factory=PrunerConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    seed: int = option(0, "Seed of the first repeat; repeat i uses seed + i.", low=0)
    repeats: int = option(1, "Independent runs with seeds seed, seed+1, ...; results report the "
                          "median and min/max per round.", low=1, high=100)
    device: str = option("auto", "'auto' (CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:N', "
                         "or 'mps'.")

    # ---- construction ------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict | None = None) -> Config:
        """Build and validate a config from a partial nested dict; raise ConfigError on any problem."""
        from .checks import cross_checks

        errors: list[FieldError] = []
        config = build_section(cls, data or {}, "", errors)
        if not errors:
            errors.extend(cross_checks(config))
        if errors:
            raise ConfigError(errors)
        return config

    def to_dict(self) -> dict:
        """The complete config as a JSON-ready nested dict."""
        return dataclasses.asdict(self)

    def replace(self, **dotted: Any) -> Config:
        """A validated copy with dotted overrides, e.g. ``replace(**{"training.epochs": 3})``."""
        data = self.to_dict()
        for key, value in dotted.items():
            set_dotted(data, key, value)
        return Config.from_dict(data)

    # ---- identity ----------------------------------------------------------------------------

    def hash(self) -> str:
        """SHA-256 of the canonical JSON of everything that defines the experiment.

        ``device``, ``dataset.data_dir`` and ``training.eval_batch_size`` are left out: they say
        where and how fast the experiment runs, not what it is.
        """
        data = self.to_dict()
        data.pop("device")
        data["dataset"].pop("data_dir")
        data["training"].pop("eval_batch_size")
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    # ---- derived quantities ------------------------------------------------------------------

    @property
    def per_round_rate(self) -> float:
        """p: the fraction of alive weights removed per round (derived from target_sparsity if set)."""
        algo = self.algorithm
        if algo.target_sparsity is not None and algo.name in _ROUNDS:
            return 1.0 - (1.0 - algo.target_sparsity) ** (1.0 / self.n_rounds)
        return algo.rate

    @property
    def n_rounds(self) -> int:
        """Pruning rounds R after the dense round 0 (one_shot: 1; asni, gradual: 0, a single run)."""
        return {"one_shot": 1, "asni": 0, "gradual": 0}.get(self.algorithm.name, self.algorithm.rounds)

    @property
    def keeps_weights_with_policy(self) -> bool:
        """True when rounds keep the trained weights and retrain on a BIMP-paper LR policy."""
        a = self.algorithm
        return a.name in _IMP and a.rewind in ("lr", "none") and a.lr_policy != "default"

    def retrain_epochs(self, round_index: int) -> int:
        """Epochs trained in round r; round 0 is the dense training (T, or BIMP's T0).

        IMP: (τ or T) − k, where AIMP (``partial_epochs`` = τ) retrains τ − k epochs in the
        intermediate rounds 1 … R−1 and the full T − k in the last round R; with an LR policy,
        T_rt (``retrain_epochs``, default T − k). BIMP splits the remaining budget T − T0 evenly
        over the R rounds, the last round taking the remainder. asni / gradual: one run of T.
        """
        a, T = self.algorithm, self.training.epochs
        if a.name == "bimp":
            if round_index == 0:
                return a.bimp_dense_epochs
            share = (T - a.bimp_dense_epochs) // a.rounds
            return share if round_index < a.rounds else T - a.bimp_dense_epochs - share * (a.rounds - 1)
        if round_index == 0:
            return T
        if self.keeps_weights_with_policy:
            return a.retrain_epochs if a.retrain_epochs is not None else T - a.rewind_epoch
        tau = a.partial_epochs
        length = tau if (tau is not None and round_index < self.n_rounds) else T
        return length - a.rewind_epoch

    def search_cost(self) -> int:
        """Epochs spent finding the final mask beyond the dense training: the retraining epochs of
        rounds 1..R (the AIMP paper's measure). asni / gradual prune during their single run of
        T epochs, which is their whole cost; BIMP's budget is T in total."""
        if self.algorithm.name in ("asni", "gradual"):
            return self.training.epochs
        return sum(self.retrain_epochs(r) for r in range(1, self.n_rounds + 1))

    def total_epochs(self) -> int:
        """Every epoch one repeat trains (ASNI-II's two retrainings from scratch included)."""
        if self.algorithm.name == "asni":
            return self.training.epochs * (3 if self.algorithm.amenable else 1)
        if self.algorithm.name == "gradual":
            return self.training.epochs
        return self.retrain_epochs(0) + self.search_cost()

    def planned_sparsity(self) -> list[float]:
        """Planned global sparsity: after each round 0..R (1 − (1 − p)^r), or, for asni and
        gradual, after each epoch 1..E of the single run."""
        from .. import schedules  # torch-free; imported here because schedules imports this module

        a, E = self.algorithm, self.training.epochs
        if a.name == "asni":
            return schedules.sigmoid_schedule(self.sigmoid_alpha(), a.sigmoid_beta, self.sigmoid_gamma(), E)
        if a.name == "gradual":
            return schedules.polynomial_schedule(0.0, a.target_sparsity or 0.0, a.gradual_start,
                                                 self.gradual_end(), E)
        return schedules.geometric_sparsity(self.per_round_rate, self.n_rounds)

    def sigmoid_gamma(self) -> float:
        """ASNI's γ (default E/10, the paper's choice)."""
        g = self.algorithm.sigmoid_gamma
        return g if g is not None else self.training.epochs / 10.0

    def sigmoid_alpha(self) -> float:
        """ASNI's α: given, or solved so that p_E = target_sparsity exactly."""
        from .. import schedules

        a = self.algorithm
        if a.sigmoid_alpha is not None:
            return a.sigmoid_alpha
        return schedules.solve_sigmoid_alpha(a.target_sparsity, a.sigmoid_beta, self.sigmoid_gamma(),
                                             self.training.epochs)

    def gradual_end(self) -> int:
        """Last epoch of the cubic ramp (default ⌈3T/4⌉)."""
        end = self.algorithm.gradual_end
        return end if end is not None else -(-3 * self.training.epochs // 4)


