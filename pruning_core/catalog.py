"""The built-in models and datasets by name, for the config and the form (torch-free).

Their implementations live in :mod:`pruning_core.models` and :mod:`pruning_core.data` (torch),
which the registry entries point to and import only when a run needs them. A test checks that
these names and the implementations' registries agree.
"""

from __future__ import annotations

from .registry import DATASETS, MODELS

for _name, _help in [
    ("lenet300_100", "LeNet-300-100 MLP (LeCun et al. 1998; Frankle & Carbin 2019)"),
    ("lenet5", "LeNet-5 with 3x3 convs, ~60K parameters on MNIST (Paganini & Forde 2020)"),
    ("conv2", "Conv-2: 2 convs + 3 FC layers (Frankle & Carbin 2019)"),
    ("conv4", "Conv-4: 4 convs + 3 FC layers (Frankle & Carbin 2019)"),
    ("conv6", "Conv-6: 6 convs + 3 FC layers (Frankle & Carbin 2019)"),
    ("vgg11", "VGG-11-BN for CIFAR, global pool + 1 FC (open_lth; AIMP paper)"),
    ("vgg13", "VGG-13-BN for CIFAR, global pool + 1 FC (open_lth; AIMP paper)"),
    ("vgg16", "VGG-16-BN for CIFAR, global pool + 1 FC (open_lth; AIMP paper)"),
    ("vgg19", "VGG-19-BN for CIFAR, global pool + 1 FC (open_lth; AIMP paper)"),
    ("resnet20", "ResNet-20 for CIFAR, 0.27M parameters (He et al. 2016)"),
    ("resnet56", "ResNet-56 for CIFAR, 0.86M parameters (He et al. 2016)"),
    ("resnet18", "ResNet-18 (He et al. 2016), torchvision's with a CIFAR stem"),
]:
    MODELS.declare(_name, "pruning_core.models:MODELS", help=_help)

for _name, _help in [
    ("digits", "scikit-learn's 8x8 handwritten digits (always available offline)"),
    ("mnist", "MNIST handwritten digits, 28x28 grayscale"),
    ("fashion_mnist", "Fashion-MNIST clothing images, 28x28 grayscale"),
    ("cifar10", "CIFAR-10 natural images, 32x32 RGB, 10 classes"),
    ("cifar100", "CIFAR-100 natural images, 32x32 RGB, 100 classes"),
]:
    DATASETS.declare(_name, "pruning_core.data:DATASETS", help=_help)

# Models whose skip connections tie channels across blocks: no output-filter pruning.
SKIP_CONNECTIONS = frozenset({"resnet20", "resnet56", "resnet18"})

# Models with no conv layer: 'linear' is all of their layers, and 'conv' none.
CONV_FREE = frozenset({"lenet300_100"})

# The smallest input height (= width) each built-in model accepts, and each built-in dataset's
# image height (= width): a model and a dataset that do not fit are refused by the config, before
# anything is queued. (A test checks them against pruning_core.models and pruning_core.data.)
MIN_INPUT_SIZE = {"lenet300_100": 1, "lenet5": 10, "conv2": 2, "conv4": 4, "conv6": 8, "vgg11": 16, "vgg13": 16,
                  "vgg16": 16, "vgg19": 16, "resnet20": 1, "resnet56": 1, "resnet18": 1}
INPUT_SIZE = {"digits": 8, "mnist": 28, "fashion_mnist": 28, "cifar10": 32, "cifar100": 32}


def models_fitting(dataset: str) -> list[str]:
    """The built-in models that accept ``dataset``'s images."""
    return [m for m, low in MIN_INPUT_SIZE.items() if low <= INPUT_SIZE[dataset]]
