"""Architecture registry: the networks Prunelab can prune, by name.

Every entry of :data:`MODELS` is a :class:`ModelSpec`. Its ``builder`` is
called as ``builder(in_channels, num_classes, input_size)`` and returns a
freshly initialised ``torch.nn.Module`` that maps a batch of images of shape
``(N, in_channels, H, W)`` to logits of shape ``(N, num_classes)``.

Use :func:`build_model` rather than calling a builder directly: it first runs
:func:`check_compatible`, which rejects unknown names and image sizes that an
architecture cannot process (each max-pooling stage halves the image, so deep
networks need a minimum size) with a message that says what is allowed.

Conventions shared by every model (the pruning engine relies on them):

* The first layer takes ``in_channels`` inputs (1 for MNIST-like data, 3 for
  CIFAR); nothing is hard-wired to a dataset.
* The output layer is an ``nn.Linear`` with ``num_classes`` outputs and is the
  LAST ``nn.Linear`` in ``model.modules()`` order.
* Convolutions and linear layers have a bias unless a BatchNorm follows them,
  in which case ``bias=False`` (the BatchNorm shift plays the bias's role).
* Weights keep PyTorch's default initialisation (Kaiming-uniform with
  ``a=sqrt(5)`` for conv/linear weights, uniform biases, BatchNorm weight 1
  and bias 0). No builder re-initialises anything, so two models built under
  the same ``torch.manual_seed`` are identical, which is what weight
  rewinding needs.
* Models work with ``memory_format=torch.channels_last`` inputs: they only use
  layout-agnostic operations (``flatten`` reshapes in logical NCHW order).
* Our own ReLUs are not in-place, so a forward hook that keeps a layer's
  output (e.g. for activation-based pruning) sees it unmodified. (torchvision's
  ResNet-18 keeps its in-place ReLUs.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torchvision
from torch import nn

__all__ = ["ModelSpec", "MODELS", "ModelDatasetMismatch", "build_model", "check_compatible"]


class ModelDatasetMismatch(ValueError):
    """The dataset's image shape cannot be fed to the requested architecture."""


@dataclass(frozen=True)
class ModelSpec:
    name: str  # registry key
    description: str  # one line, with the paper it comes from
    family: str  # "mlp" | "conv" | "vgg" | "resnet"
    builder: Callable[..., nn.Module]  # builder(in_channels, num_classes, input_size)
    min_input_size: int  # smallest H (= W) the architecture accepts


# ---- Shared pieces -----------------------------------------------------------


class FeatureClassifierNet(nn.Module):
    """``classifier(flatten(features(x)))``: the shape of every non-ResNet model."""

    def __init__(self, features: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _flattened_size(features: nn.Module, in_channels: int, input_size: tuple[int, int]) -> int:
    """Number of features ``features`` produces per image (one dummy forward pass)."""
    with torch.no_grad():
        return features(torch.zeros(1, in_channels, *input_size)).numel()


def _fc_head(in_features: int, hidden: list[int], num_classes: int) -> nn.Sequential:
    """Linear -> ReLU for each hidden width, then the output Linear."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)


# ---- Multilayer perceptron and small convolutional networks ------------------


def build_lenet300_100(in_channels: int, num_classes: int, input_size: tuple[int, int]) -> nn.Module:
    """LeNet-300-100 (LeCun et al. 1998; Frankle & Carbin 2019; IAP paper Table 1).

    flatten (C*H*W) -> Linear(C*H*W, 300) -> ReLU -> Linear(300, 100) -> ReLU
    -> Linear(100, classes). On 28x28x1 MNIST with 10 classes: 266,610
    parameters (266,200 weights + 410 biases).
    """
    h, w = input_size
    return FeatureClassifierNet(nn.Identity(), _fc_head(in_channels * h * w, [300, 100], num_classes))


def build_lenet5(in_channels: int, num_classes: int, input_size: tuple[int, int]) -> nn.Module:
    """LeNet-5 as used by Paganini & Forde 2020 (pruning, reinitialisation, mask similarity).

    conv(C->6, 3x3) -> ReLU -> maxpool 2 -> conv(6->16, 3x3) -> ReLU -> maxpool 2
    -> flatten -> Linear(., 120) -> ReLU -> Linear(120, 84) -> ReLU -> Linear(84, classes).
    The paper gives the 6->16 3x3 second conv (Fig. 5) and a total of about
    60 thousand parameters (Table 1) but no padding; padding 0 reproduces that
    total: on 28x28x1 the sides go 28 -> 26 -> 13 -> 11 -> 5, so the first FC
    layer sees 16*5*5 = 400 features and the network has 60,074 parameters.
    Each side must satisfy floor((H-2)/2) - 2 >= 2, i.e. H >= 10.
    """
    features = nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=3),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )
    flat = _flattened_size(features, in_channels, input_size)
    return FeatureClassifierNet(features, _fc_head(flat, [120, 84], num_classes))


def _frankle_carbin_convnet(stages: int) -> Callable[..., nn.Module]:
    widths = [64, 128, 256][:stages]

    def build(in_channels: int, num_classes: int, input_size: tuple[int, int]) -> nn.Module:
        layers: list[nn.Module] = []
        c = in_channels
        for width in widths:
            for _ in range(2):
                layers += [nn.Conv2d(c, width, kernel_size=3, padding=1), nn.ReLU()]
                c = width
            layers.append(nn.MaxPool2d(2))
        features = nn.Sequential(*layers)
        flat = _flattened_size(features, in_channels, input_size)
        return FeatureClassifierNet(features, _fc_head(flat, [256, 256], num_classes))

    n = 2 * stages
    build.__name__ = f"build_conv{n}"
    build.__doc__ = (
        f"Conv-{n} of Frankle & Carbin 2019 (the lottery-ticket paper), for CIFAR-10.\n\n"
        f"    Convolutions 3x3, padding 1, each followed by ReLU: "
        f"{', '.join(f'{w}, {w}, pool' for w in widths)} (pool = maxpool 2);\n"
        "    then flatten -> Linear(., 256) -> ReLU -> Linear(256, 256) -> ReLU -> Linear(256, classes).\n"
        f"    The first FC layer sees {widths[-1]}*(H//{2 ** stages})*(W//{2 ** stages}) features.\n"
    )
    return build


build_conv2 = _frankle_carbin_convnet(1)
build_conv4 = _frankle_carbin_convnet(2)
build_conv6 = _frankle_carbin_convnet(3)


# ---- VGG for CIFAR -----------------------------------------------------------

# Simonyan & Zisserman's configurations A, B, D and E ("M" = 2x2 max-pool),
# without the final "M", as in open_lth: the classifier pools globally instead.
_VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512],
}


def _vgg(name: str) -> Callable[..., nn.Module]:
    config = _VGG_CONFIGS[name]

    def build(in_channels: int, num_classes: int, input_size: tuple[int, int]) -> nn.Module:
        layers: list[nn.Module] = []
        c = in_channels
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [
                    nn.Conv2d(c, item, kernel_size=3, padding=1, bias=False),
                    nn.BatchNorm2d(item),
                    nn.ReLU(),
                ]
                c = item
        classifier = nn.Sequential(nn.Linear(c, num_classes))
        return FeatureClassifierNet(
            nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1)), classifier
        )

    convs = [str(x) for x in config]
    build.__name__ = f"build_{name}"
    build.__doc__ = (
        f"{name.upper()} for CIFAR (Simonyan & Zisserman 2015, as adapted by Frankle et al. / "
        "open_lth and the AIMP paper).\n\n"
        "    Each number is conv 3x3 (padding 1, no bias) -> BatchNorm2d -> ReLU, M = maxpool 2:\n"
        f"    {' '.join(convs)}\n"
        "    then AdaptiveAvgPool2d(1) -> flatten -> Linear(512, classes); the two hidden\n"
        "    FC layers of the ImageNet VGG are removed. 4 max-pools: inputs of at least 16x16.\n"
    )
    return build


# ---- ResNets -----------------------------------------------------------------


class BasicBlock(nn.Module):
    """conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN, plus shortcut, then ReLU.

    When the block changes width or resolution the shortcut is a 1x1 conv
    (stride s, no bias) followed by BN ("option B", as in open_lth); otherwise
    it is the identity.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        if stride != 1 or c_in != c_out:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """He et al. 2016 CIFAR ResNet-(6n+2): stem, 3 stages of n blocks, pool, Linear."""

    def __init__(self, n: int, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        blocks: list[nn.Module] = []
        c = 16
        for stage, width in enumerate([16, 32, 64]):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(c, width, stride))
                c = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def _cifar_resnet(depth: int) -> Callable[..., nn.Module]:
    n = (depth - 2) // 6

    def build(in_channels: int, num_classes: int, input_size: tuple[int, int]) -> nn.Module:
        return CifarResNet(n, in_channels, num_classes)

    build.__name__ = f"build_resnet{depth}"
    build.__doc__ = (
        f"ResNet-{depth} for CIFAR (He et al. 2016, Sec. 4.2), n = {n} blocks per stage.\n\n"
        "    conv3x3(C->16, no bias) -> BN -> ReLU;\n"
        f"    stage 1: {n} BasicBlocks of width 16 (32x32); stage 2: {n} of width 32, first with\n"
        f"    stride 2 (16x16); stage 3: {n} of width 64, first with stride 2 (8x8);\n"
        "    downsampling shortcut = conv1x1 (no bias) + BN; global average pool -> Linear(64, classes).\n"
    )
    return build


def build_resnet18(in_channels: int, num_classes: int, input_size: tuple[int, int]) -> nn.Module:
    """ResNet-18 (He et al. 2016) from torchvision, with the usual CIFAR stem.

    ``torchvision.models.resnet18(weights=None, num_classes=classes)`` whose
    7x7/stride-2 conv1 becomes conv3x3 (C->64, stride 1, padding 1, no bias)
    and whose stem max-pool becomes ``nn.Identity()``; four stages of two
    BasicBlocks (widths 64/128/256/512, 32x32 -> 4x4 on CIFAR), global average
    pool, Linear(512, classes).
    """
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


# ---- The registry ------------------------------------------------------------

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("lenet300_100", "LeNet-300-100 MLP (LeCun et al. 1998; Frankle & Carbin 2019)",
                  "mlp", build_lenet300_100, 1),
        ModelSpec("lenet5", "LeNet-5 with 3x3 convs, ~60K params on MNIST (Paganini & Forde 2020)",
                  "conv", build_lenet5, 10),
        ModelSpec("conv2", "Conv-2: 2 convs + 3 FC layers (Frankle & Carbin 2019)",
                  "conv", build_conv2, 2),
        ModelSpec("conv4", "Conv-4: 4 convs + 3 FC layers (Frankle & Carbin 2019)",
                  "conv", build_conv4, 4),
        ModelSpec("conv6", "Conv-6: 6 convs + 3 FC layers (Frankle & Carbin 2019)",
                  "conv", build_conv6, 8),
        *[
            ModelSpec(name, f"{name.upper()}-BN for CIFAR, global pool + 1 FC "
                      "(Simonyan & Zisserman 2015; open_lth; AIMP paper)", "vgg", _vgg(name), 16)
            for name in _VGG_CONFIGS
        ],
        ModelSpec("resnet20", "ResNet-20 for CIFAR, 0.27M params (He et al. 2016)",
                  "resnet", _cifar_resnet(20), 1),
        ModelSpec("resnet56", "ResNet-56 for CIFAR, 0.86M params (He et al. 2016)",
                  "resnet", _cifar_resnet(56), 1),
        ModelSpec("resnet18", "ResNet-18 (He et al. 2016), torchvision with a CIFAR stem",
                  "resnet", build_resnet18, 1),
    ]
}


def model_spec(name: str) -> ModelSpec:
    """The spec of a built-in model, or of one a plug-in registered with ``register_model``
    (its builder takes ``(in_channels, num_classes, input_size)``)."""
    spec = MODELS.get(name)
    if spec is not None:
        return spec
    from .registry import MODELS as REGISTERED
    if name in REGISTERED:
        entry = REGISTERED.entry(name)
        builder = entry.load()
        return ModelSpec(name, entry.help, "plugin", builder, getattr(builder, "min_input_size", 1))
    raise ValueError(f"model.name: unknown model {name!r}; allowed: {', '.join(REGISTERED.names())}")


def check_compatible(name: str, *, in_channels: int, num_classes: int,
                     input_size: tuple[int, int]) -> None:
    """Raise unless ``build_model`` would accept these arguments; builds nothing.

    Unknown ``name`` -> ``ValueError`` listing the registered models; a dataset
    shape the architecture cannot process -> :class:`ModelDatasetMismatch`.
    """
    spec = model_spec(name)
    try:
        h, w = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ModelDatasetMismatch(
            f"{name}: input_size must be a pair (height, width); got {input_size!r}"
        ) from None
    if in_channels < 1 or h < 1 or w < 1 or num_classes < 1:
        raise ModelDatasetMismatch(
            f"{name} cannot be built for {in_channels}-channel {h}x{w} images with "
            f"{num_classes} classes: all four numbers must be at least 1"
        )
    m = spec.min_input_size
    if h < m or w < m:
        fits = [k for k, s in MODELS.items() if s.min_input_size <= min(h, w)]
        raise ModelDatasetMismatch(
            f"{name} needs inputs of at least {m}x{m}; dataset gives {h}x{w} "
            f"({in_channels}-channel images, {num_classes} classes). "
            f"Models that accept {h}x{w} inputs: {', '.join(fits)}"
        )


def build_model(name: str, *, in_channels: int, num_classes: int,
                input_size: tuple[int, int]) -> nn.Module:
    """Build a freshly (default-)initialised model ``name`` for the given data shape."""
    check_compatible(name, in_channels=in_channels, num_classes=num_classes,
                     input_size=input_size)
    h, w = (int(v) for v in input_size)
    return model_spec(name).builder(in_channels, num_classes, (h, w))
