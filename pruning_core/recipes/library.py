"""The recipe library: each entry a published setting as a partial config, with its source.

Values are copied from the source named in ``source``; a value Prunelab fixes differently, or
one the source leaves to the user (the number of rounds, mostly), is said in ``notes``. Unless
a recipe says otherwise, Prunelab initialises with PyTorch's defaults (not Kaiming-normal).
Data only: :mod:`pruning_core.recipes` builds the registry from :data:`LIBRARY`.
"""

from __future__ import annotations

from . import Recipe

OPENLTH = "facebookresearch/open_lth"
MAGNITUDE = {"name": "magnitude", "norm": "l1"}


def _openlth_cifar(model: str, ignore_fc: bool) -> dict:
    """OpenLTH's CIFAR-10 default_hparams (ResNet-20 and VGG-16 share them)."""
    pruner = {"score": dict(MAGNITUDE), "unit": "weight", "grouping": "global"}
    if ignore_fc:
        pruner["output_rate"] = 0.0
    return {
        "model": {"name": model},
        "dataset": {"name": "cifar10", "augment": True},
        "pruner": pruner,
        "algorithm": {"name": "imp", "rate": 0.2, "treatment": "rewind", "rewind_epoch": 0},
        "training": {"epochs": 160, "batch_size": 128, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                     "nesterov": False, "weight_decay": 1e-4, "lr_schedule": "step", "milestones": [80, 120],
                     "gamma": 0.1, "warmup_epochs": 0.0},
    }


def _asni(model: str, dataset: str, epochs: int, lr: float, alpha: float, gamma: float) -> dict:
    """ASNI's Adam rows (Table 1) with their sigmoid (Table 2): batch 60, constant LR, β = 0.5."""
    return {
        "model": {"name": model},
        "dataset": {"name": dataset},
        "algorithm": {"name": "asni", "amenable": True,
                      "schedule": {"name": "sigmoid", "target_sparsity": None, "alpha": alpha, "beta": 0.5,
                                   "gamma": gamma}},
        "training": {"epochs": epochs, "batch_size": 60, "optimizer": "adam", "lr": lr, "weight_decay": 0.0,
                     "lr_schedule": "constant"},
    }


ASNI_SOURCE = ("Damadi, Nouri & Pirsiavash 2022 (ASNI), Table 1 (E, B, LR; Adam, constant LR: Sec. 5.3-5.4) and "
               "Table 2 (α, γ; β = 0.5: Sec. 4) — /work/shared/papers/asni-amenable-sparse-network-investigator.txt")
ASNI_NOTES = ("α is the paper's percentage as a fraction; the final sparsity follows from it (Table 2's s%). "
              "The Adam rows give no weight decay, so it is 0. Kaiming-normal init (Sec. 5.5) and mixed "
              "precision are not reproduced.")
IAP_SOURCE = ("Zhao, Jain & Zhao 2022 (IAP/AIAP), Table 1 ({row}) and Sec. 'Experimental Setup': IAP prunes 20 % of "
              "the neurons of each dense layer{conv} per round, weights rewound to epoch {k} of {T} — "
              "/work/shared/papers/iap-aiap-activation-based-structured-pruning.txt")
IAP_NOTES = ("The paper repeats rounds until the accuracy budget is spent and gives no count: set "
             "algorithm.rounds (configs/repro uses 18 for LeNet-300-100).")

LIBRARY: tuple[Recipe, ...] = (
    Recipe(
        name="quickstart",
        title="Quick start: IMP on LeNet-300-100 / digits, 5 rounds of 20 % (offline, about 10 s)",
        source="Prunelab's engine defaults (pruning_core/config/schema.py), what `python -m pruning_core run` and "
               "the Experiment page start from: the IAP paper's LeNet training (Table 1: Nesterov Adam, lr 1.2e-3, "
               "weight decay 1e-4, batch 60, 6 epochs) and the lottery ticket's 20 % of the weights per round, "
               "global magnitude pruning, weights rewound to epoch 5",
        config={
            "model": {"name": "lenet300_100"},
            "dataset": {"name": "digits"},
            "pruner": {"score": dict(MAGNITUDE), "unit": "weight", "grouping": "global"},
            "algorithm": {"name": "imp", "rounds": 5, "rate": 0.2, "treatment": "rewind", "rewind_epoch": 5},
            "training": {"epochs": 6, "batch_size": 60, "optimizer": "nadam", "lr": 1.2e-3, "weight_decay": 1e-4,
                         "lr_schedule": "constant"},
            "repeats": 1,
        },
        notes="scikit-learn's 8x8 digits: runs anywhere, no download, about 10 s on a CPU.",
    ),
    Recipe(
        name="lottery_quickstart",
        title="Home quick start: the original lottery ticket on LeNet-300-100 / digits, 20 rounds, 5 seeds "
              "(offline, about 1 min)",
        source="Prunelab's Home page quick-start Launch (ui/state.py QUICKSTART; README 'The app'): the engine "
               "defaults with weights rewound to the initialisation (k = 0, Frankle & Carbin's IMP), 20 rounds of "
               "20 % (1.2 % of the weights left) and 5 seeds (the papers' median of 5)",
        config={"algorithm": {"name": "imp", "rounds": 20, "rewind_epoch": 0}, "repeats": 5},
        notes="scikit-learn's 8x8 digits: runs anywhere, no download. 630 epochs, about a minute on 2 CPU cores.",
    ),
    Recipe(
        name="openlth_lenet300_mnist",
        title="Lottery ticket: LeNet-300-100 on MNIST, OpenLTH defaults",
        source=f"{OPENLTH} models/mnist_lenet.py, Model.default_hparams(): mnist, batch 128, SGD lr 0.1 (no "
               "momentum, no weight decay), 40 epochs, sparse_global pruning of 0.2 per level with fc.weight "
               "(the output layer) ignored, rewound to step 0",
        config={
            "model": {"name": "lenet300_100"},
            "dataset": {"name": "mnist"},
            "pruner": {"score": dict(MAGNITUDE), "unit": "weight", "grouping": "global", "output_rate": 0.0},
            "algorithm": {"name": "imp", "rate": 0.2, "treatment": "rewind", "rewind_epoch": 0},
            "training": {"epochs": 40, "batch_size": 128, "optimizer": "sgd", "lr": 0.1, "momentum": 0.0,
                         "weight_decay": 0.0, "lr_schedule": "constant", "warmup_epochs": 0.0},
        },
        notes="OpenLTH takes the number of levels from the required --levels flag: set algorithm.rounds. "
              "OpenLTH rounds the pruned count up (ceil), Prunelab to nearest. The Frankle & Carbin paper's own "
              "LeNet setting differs (Adam 1.2e-3, batch 60, layer-wise pruning, output layer at half the rate: "
              "pruner.grouping = local, pruner.output_rate = 0.1).",
    ),
    Recipe(
        name="openlth_resnet20_cifar10",
        title="Lottery ticket: ResNet-20 on CIFAR-10, OpenLTH defaults",
        source=f"{OPENLTH} models/cifar_resnet.py, Model.default_hparams(): cifar10 (augmented), batch 128, SGD "
               "lr 0.1, momentum 0.9, weight decay 1e-4, 160 epochs, x0.1 at epochs 80 and 120, sparse_global "
               "pruning of 0.2 per level (the output layer included), rewound to step 0",
        config=_openlth_cifar("resnet20", ignore_fc=False),
        notes="Set algorithm.rounds (OpenLTH's --levels). Frankle et al. rewind ResNet-20 to a later step "
              "(--rewinding_steps): set algorithm.rewind_epoch. Needs a GPU.",
    ),
    Recipe(
        name="openlth_vgg16_cifar10",
        title="Lottery ticket: VGG-16 on CIFAR-10, OpenLTH defaults",
        source=f"{OPENLTH} models/cifar_vgg.py, Model.default_hparams(): cifar10 (augmented), batch 128, SGD lr "
               "0.1, momentum 0.9, weight decay 1e-4, 160 epochs, x0.1 at epochs 80 and 120, sparse_global "
               "pruning of 0.2 per level with fc.weight (the output layer) ignored, rewound to step 0",
        config=_openlth_cifar("vgg16", ignore_fc=True),
        notes="Set algorithm.rounds (OpenLTH's --levels). Needs a GPU.",
    ),
    Recipe(
        name="aimp_vgg19_cifar10",
        title="AIMP+WR: VGG-19 on CIFAR-10, τ = 50, 20 rounds of 20 %",
        source="Zullich et al. (AIMP), Sec. IV-V and Table I: SGD lr 0.1, momentum 0.9, weight decay 1e-4, batch "
               "128, T = 160 with x0.1 at epochs 80 and 120, gradient clipping at 1, 20 iterations of p = 20 %, "
               "late resetting epoch t = 1, τ = 50, 5 runs — /work/shared/papers/aimp-accelerated-iterative-"
               "magnitude-pruning.txt (also configs/aimp_vgg19_cifar10.toml)",
        config={
            "model": {"name": "vgg19"},
            "dataset": {"name": "cifar10"},
            "algorithm": {"name": "imp", "rounds": 20, "rate": 0.2, "treatment": "rewind", "rewind_epoch": 1,
                          "partial_epochs": 50},
            "training": {"epochs": 160, "batch_size": 128, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                         "weight_decay": 1e-4, "lr_schedule": "step", "milestones": [80, 120], "gamma": 0.1,
                         "grad_clip": 1.0},
            "repeats": 5,
        },
        notes="The paper's augmentation also has affine transformations; Prunelab's CIFAR default is pad-4 crop "
              "+ flip. Needs a GPU (about 1,100 epochs per seed).",
    ),
    Recipe(
        name="iap_lenet300_mnist",
        title="IAP: LeNet-300-100 on MNIST, activation-based neuron pruning, 20 % per round",
        source=IAP_SOURCE.format(row="MNIST, LeNet-300-100: Nesterov Adam, lr 0.0012 for t in [0, 6), weight "
                                     "decay 1e-4, batch 60", conv="", k=5, T=6),
        config={
            "model": {"name": "lenet300_100"},
            "dataset": {"name": "mnist"},
            "pruner": {"score": {"name": "activation", "batch": 60}, "unit": "output_filter", "grouping": "local",
                       "selection": {"name": "fraction"}, "dense_rate": 0.2},
            "algorithm": {"name": "imp", "treatment": "rewind", "rewind_epoch": 5},
            "training": {"epochs": 6, "batch_size": 60, "optimizer": "nadam", "lr": 0.0012, "weight_decay": 1e-4,
                         "lr_schedule": "constant"},
        },
        notes=IAP_NOTES,
    ),
    Recipe(
        name="iap_lenet5_cifar10",
        title="IAP: the paper's 'LeNet-5' (4.30M parameters = Prunelab's conv2) on CIFAR-10",
        source=IAP_SOURCE.format(row="CIFAR-10, LeNet-5, 4.30M parameters: Nesterov Adam, lr 0.0002 for t in "
                                     "[0, 24), weight decay 1e-4, batch 60",
                                 conv=" and 10 % of the filters of each conv layer", k=22, T=24),
        config={
            "model": {"name": "conv2"},
            "dataset": {"name": "cifar10"},
            "pruner": {"score": {"name": "activation", "batch": 60}, "unit": "output_filter", "grouping": "local",
                       "selection": {"name": "fraction"}, "conv_rate": 0.1, "dense_rate": 0.2},
            "algorithm": {"name": "imp", "treatment": "rewind", "rewind_epoch": 22},
            "training": {"epochs": 24, "batch_size": 60, "optimizer": "nadam", "lr": 0.0002, "weight_decay": 1e-4,
                         "lr_schedule": "constant"},
        },
        notes="The IAP paper's CIFAR-10 'LeNet-5' has 4.30M parameters: that is Conv-2 (2 convs of 64 + fc "
              "256-256-10: 4,301,642 on CIFAR-10), not Prunelab's 60K-parameter lenet5. " + IAP_NOTES,
    ),
    Recipe(
        name="paganini_lenet5_mnist",
        title="Paganini & Forde: LeNet-5 on MNIST, L1 unstructured, 20 % per layer, rewound to init",
        source="Paganini & Forde 2020, Sec. 3: 30 epochs of SGD, constant lr 0.01, batch 32, no explicit "
               "regularisation, 20 % of the remaining connections per layer (local) per iteration, weights "
               "rewound to their initial values (Sec. 4; L1-US of Fig. 1) — /work/shared/papers/paganini-"
               "iterative-pruning-reinit-mask-similarity.txt",
        config={
            "model": {"name": "lenet5"},
            "dataset": {"name": "mnist"},
            "pruner": {"score": dict(MAGNITUDE), "unit": "weight", "grouping": "local", "layers": "all"},
            "algorithm": {"name": "imp", "rate": 0.2, "treatment": "rewind", "rewind_epoch": 0},
            "training": {"epochs": 30, "batch_size": 32, "optimizer": "sgd", "lr": 0.01, "momentum": 0.0,
                         "weight_decay": 0.0, "lr_schedule": "constant"},
        },
        notes="The paper's other techniques are one field away: pruner.unit = input_channel (L1-S), hybrid, "
              "pruner.score = random; treatment = sigma_sign / keep for the reinitialisation study. Table 1 "
              "goes to 99 % pruned (about 21 rounds): set algorithm.rounds.",
    ),
    Recipe(
        name="asni_lenet300_mnist",
        title="ASNI: LeNet-300-100 (FC) on MNIST, comb. 1 (α = 0.98, γ = 5)",
        source=ASNI_SOURCE + ", comb. 1: E 50, B 60, Adam lr 1.2e-3; α 98 %, γ 5",
        config=_asni("lenet300_100", "mnist", 50, 1.2e-3, 0.98, 5.0),
        notes=ASNI_NOTES,
    ),
    Recipe(
        name="asni_conv2_cifar10",
        title="ASNI: Conv-2 on CIFAR-10, comb. 5 (α = 0.985, γ = 2)",
        source=ASNI_SOURCE + ", comb. 5: E 20, B 60, Adam lr 2e-4; α 98.5 %, γ 2",
        config=_asni("conv2", "cifar10", 20, 2e-4, 0.985, 2.0),
        notes=ASNI_NOTES,
    ),
    Recipe(
        name="asni_conv4_cifar10",
        title="ASNI: Conv-4 on CIFAR-10, comb. 6 (α = 0.95, γ = 2)",
        source=ASNI_SOURCE + ", comb. 6: E 25, B 60, Adam lr 3e-4; α 95 %, γ 2",
        config=_asni("conv4", "cifar10", 25, 3e-4, 0.95, 2.0),
        notes=ASNI_NOTES,
    ),
    Recipe(
        name="asni_conv6_cifar10",
        title="ASNI: Conv-6 on CIFAR-10, comb. 7 (α = 0.94, γ = 3)",
        source=ASNI_SOURCE + ", comb. 7: E 30, B 60, Adam lr 3e-4; α 94 %, γ 3",
        config=_asni("conv6", "cifar10", 30, 3e-4, 0.94, 3.0),
        notes=ASNI_NOTES,
    ),
)
