"""Tests for pruning_core.models: exact sizes computed by hand, shapes, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pruning_core.models import MODELS, ModelDatasetMismatch, ModelSpec, build_model, check_compatible

MNIST = dict(in_channels=1, num_classes=10, input_size=(28, 28))
CIFAR = dict(in_channels=3, num_classes=10, input_size=(32, 32))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(c_in: int, c_out: int, k: int = 3, bias: bool = True) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def fc(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def bn(c: int) -> int:
    return 2 * c  # weight + bias (running stats are buffers)


# ---------------------------------------------------------------- registry


def test_registry_keys_in_order():
    assert list(MODELS) == [
        "lenet300_100", "lenet5", "conv2", "conv4", "conv6",
        "vgg11", "vgg13", "vgg16", "vgg19", "resnet20", "resnet56", "resnet18",
    ]
    for key, spec in MODELS.items():
        assert isinstance(spec, ModelSpec)
        assert spec.name == key
        assert spec.family in {"mlp", "conv", "vgg", "resnet"}
        assert spec.description and "\n" not in spec.description
        assert spec.builder.__doc__
    with pytest.raises(AttributeError):
        MODELS["lenet5"].name = "other"  # frozen


def test_min_input_sizes():
    expected = {"lenet300_100": 1, "lenet5": 10, "conv2": 2, "conv4": 4, "conv6": 8,
                "vgg11": 16, "vgg13": 16, "vgg16": 16, "vgg19": 16,
                "resnet20": 1, "resnet56": 1, "resnet18": 1}
    assert {k: s.min_input_size for k, s in MODELS.items()} == expected


# ---------------------------------------------------------------- exact parameter counts


def test_lenet300_100_mnist_counts():
    model = build_model("lenet300_100", **MNIST)
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    assert weights == 784 * 300 + 300 * 100 + 100 * 10 == 266_200
    assert n_params(model) == weights + 300 + 100 + 10 == 266_610


def test_lenet5_counts():
    # MNIST: 28 -conv3-> 26 -pool-> 13 -conv3-> 11 -pool-> 5; 16*5*5 = 400 features.
    expected = conv(1, 6) + conv(6, 16) + fc(400, 120) + fc(120, 84) + fc(84, 10)
    assert expected == 60_074  # Paganini & Forde 2020, Table 1: "60" thousand
    assert n_params(build_model("lenet5", **MNIST)) == expected
    # CIFAR: 32 -> 30 -> 15 -> 13 -> 6; 16*6*6 = 576 features.
    expected = conv(3, 6) + conv(6, 16) + fc(576, 120) + fc(120, 84) + fc(84, 10)
    assert expected == 81_302
    assert n_params(build_model("lenet5", **CIFAR)) == expected


def test_conv2_cifar_counts():
    expected = conv(3, 64) + conv(64, 64) + fc(64 * 16 * 16, 256) + fc(256, 256) + fc(256, 10)
    assert expected == 4_301_642  # also ASNI paper, Table (CIFAR-10 Conv2)
    assert n_params(build_model("conv2", **CIFAR)) == expected


@pytest.mark.parametrize(
    "name, shape, expected",
    [  # cross-check against the ASNI paper's table of parameter counts
        ("conv2", MNIST, 3_317_450),
        ("conv4", MNIST, 1_933_258),
        ("conv6", MNIST, 1_802_698),
        ("conv4", CIFAR, 2_425_930),
        ("conv6", CIFAR, 2_262_602),
    ],
)
def test_conv_family_counts_match_asni_table(name, shape, expected):
    assert n_params(build_model(name, **shape)) == expected


def test_resnet20_cifar_counts():
    stem = conv(3, 16, bias=False) + bn(16)
    block = lambda c_in, c: conv(c_in, c, bias=False) + conv(c, c, bias=False) + 2 * bn(c)  # noqa: E731
    shortcut = lambda c_in, c: conv(c_in, c, k=1, bias=False) + bn(c)  # noqa: E731
    stage1 = 3 * block(16, 16)
    stage2 = block(16, 32) + shortcut(16, 32) + 2 * block(32, 32)
    stage3 = block(32, 64) + shortcut(32, 64) + 2 * block(64, 64)
    expected = stem + stage1 + stage2 + stage3 + fc(64, 10)
    assert expected == 272_474
    assert n_params(build_model("resnet20", **CIFAR)) == expected
    # ResNet-56: same pieces with 9 blocks per stage.
    expected56 = (stem + 9 * block(16, 16) + block(16, 32) + shortcut(16, 32) + 8 * block(32, 32)
                  + block(32, 64) + shortcut(32, 64) + 8 * block(64, 64) + fc(64, 10))
    assert expected56 == 855_770
    assert n_params(build_model("resnet56", **CIFAR)) == expected56


VGG_CONVS = {  # conv widths of configurations A, B, D, E
    "vgg11": [64, 128, 256, 256, 512, 512, 512, 512],
    "vgg13": [64, 64, 128, 128, 256, 256, 512, 512, 512, 512],
    "vgg16": [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512],
    "vgg19": [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512],
}
# ASNI's table counts VGG-11/13/16 with conv biases (open_lth style); ours have none.
ASNI_VGG_WITH_CONV_BIAS = {"vgg11": 9_231_114, "vgg13": 9_416_010, "vgg16": 14_728_266}


def vgg_expected(name: str, c_in: int = 3, classes: int = 10) -> int:
    total, c = 0, c_in
    for width in VGG_CONVS[name]:
        total += conv(c, width, bias=False) + bn(width)
        c = width
    return total + fc(512, classes)


def test_vgg19_cifar_counts():
    assert vgg_expected("vgg19") == 20_035_018
    model = build_model("vgg19", **CIFAR)
    assert n_params(model) == 20_035_018
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 16 and all(m.bias is None for m in convs)
    assert len([m for m in model.modules() if isinstance(m, nn.Linear)]) == 1  # hidden FCs removed


@pytest.mark.parametrize("name", ["vgg11", "vgg13", "vgg16"])
def test_vgg_counts_match_asni_minus_conv_biases(name):
    expected = vgg_expected(name)
    assert expected == ASNI_VGG_WITH_CONV_BIAS[name] - sum(VGG_CONVS[name])
    assert n_params(build_model(name, **CIFAR)) == expected


def test_resnet18_cifar_stem():
    model = build_model("resnet18", **CIFAR)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert model.conv1.padding == (1, 1) and model.conv1.bias is None
    assert isinstance(model.maxpool, nn.Identity)
    assert n_params(model) == 11_173_962
    assert build_model("resnet18", **MNIST).conv1.in_channels == 1


# ---------------------------------------------------------------- every model: shapes, output layer


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("shape", [MNIST, CIFAR], ids=["mnist", "cifar"])
def test_output_shape_and_output_layer(name, shape):
    torch.manual_seed(0)
    model = build_model(name, **{**shape, "num_classes": 7}).eval()
    first = next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    if isinstance(first, nn.Conv2d):
        assert first.in_channels == shape["in_channels"]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears[-1].out_features == 7
    x = torch.randn(2, shape["in_channels"], *shape["input_size"])
    with torch.no_grad():
        y = model(x)
        y_cl = model(x.contiguous(memory_format=torch.channels_last))
    assert y.shape == (2, 7)
    torch.testing.assert_close(y_cl, y, rtol=1e-4, atol=1e-5)


def test_output_layer_is_really_the_output():
    """Zeroing the last Linear makes every output equal to its (zeroed) bias."""
    for name in ["lenet5", "conv4", "vgg11", "resnet20"]:
        model = build_model(name, **CIFAR).eval()
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.fill_(0.5)
            assert torch.equal(model(torch.randn(2, 3, 32, 32)), torch.full((2, 10), 0.5))


def test_default_init_is_reproducible():
    torch.manual_seed(3)
    a = build_model("conv2", **CIFAR)
    torch.manual_seed(3)
    b = build_model("conv2", **CIFAR)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_boundary_sizes_build_and_run():
    for name, spec in MODELS.items():
        if name in {"resnet18", "resnet56"}:
            continue  # covered by the shape tests; keep the suite fast
        s = max(spec.min_input_size, 2)  # BatchNorm needs >1 value per channel in train mode
        model = build_model(name, in_channels=3, num_classes=4, input_size=(s, s + 1))
        assert model(torch.randn(2, 3, s, s + 1)).shape == (2, 4)


# ---------------------------------------------------------------- errors


def test_unknown_name_lists_allowed():
    with pytest.raises(ValueError) as err:
        build_model("alexnet", **CIFAR)
    assert not isinstance(err.value, ModelDatasetMismatch)
    msg = str(err.value)
    assert msg.startswith("model.name: unknown model 'alexnet'; allowed: lenet300_100, lenet5, conv2")
    assert all(k in msg for k in MODELS)
    with pytest.raises(ValueError, match="unknown model 'alexnet'"):
        check_compatible("alexnet", **CIFAR)


@pytest.mark.parametrize("name, needed", [("lenet5", 10), ("vgg11", 16), ("vgg19", 16), ("conv6", 8)])
def test_too_small_inputs_raise_mismatch(name, needed):
    small = needed - 2
    with pytest.raises(ModelDatasetMismatch) as err:
        build_model(name, in_channels=1, num_classes=10, input_size=(small, small))
    msg = str(err.value)
    assert name in msg and f"{small}x{small}" in msg and f"{needed}x{needed}" in msg
    assert "lenet300_100" in msg  # names a model that would fit
    assert isinstance(err.value, ValueError)


def test_lenet5_and_vgg_on_8x8_digits():
    for name in ["lenet5", "vgg16"]:
        with pytest.raises(ModelDatasetMismatch, match="8x8"):
            build_model(name, in_channels=1, num_classes=10, input_size=(8, 8))
    # one too-small side is enough
    with pytest.raises(ModelDatasetMismatch, match="32x9"):
        check_compatible("lenet5", in_channels=3, num_classes=10, input_size=(32, 9))


@pytest.mark.parametrize("kwargs", [
    dict(in_channels=0, num_classes=10, input_size=(32, 32)),
    dict(in_channels=3, num_classes=0, input_size=(32, 32)),
    dict(in_channels=3, num_classes=10, input_size=(32,)),
    dict(in_channels=3, num_classes=10, input_size=(0, 32)),
])
def test_invalid_shapes_raise_mismatch(kwargs):
    with pytest.raises(ModelDatasetMismatch):
        check_compatible("conv2", **kwargs)


CHEAP = ["lenet300_100", "lenet5", "conv2", "conv4", "conv6", "vgg11", "resnet20"]


@pytest.mark.parametrize("name", CHEAP)
@pytest.mark.parametrize("size", [1, 3, 7, 8, 9, 10, 15, 16])
def test_check_compatible_matches_build_model(name, size):
    kwargs = dict(in_channels=1, num_classes=3, input_size=(size, size))
    try:
        check_compatible(name, **kwargs)
        ok = True
    except ModelDatasetMismatch:
        ok = False
    if ok:
        model = build_model(name, **kwargs).eval()
        with torch.no_grad():  # and the built model really accepts that size
            assert model(torch.randn(1, 1, size, size)).shape == (1, 3)
    else:
        with pytest.raises(ModelDatasetMismatch):
            build_model(name, **kwargs)
        # ...and the limit is real: the raw builder cannot handle it either
        if MODELS[name].family != "resnet":
            with pytest.raises(Exception):
                MODELS[name].builder(1, 3, (size, size))(torch.randn(1, 1, size, size))


def test_check_compatible_limits_are_tight():
    """One pixel below min_input_size really breaks the network."""
    for name in ["lenet5", "conv4", "conv6", "vgg13"]:
        s = MODELS[name].min_input_size - 1
        with pytest.raises(Exception):
            MODELS[name].builder(1, 3, (s, s)).eval()(torch.randn(1, 1, s, s))


def test_the_torch_free_catalog_knows_every_models_input_and_every_datasets_size():
    """The config refuses a model and dataset that do not fit (LeNet-5 on 8×8 digits) from the
    torch-free catalog, so its figures must be the implementations'."""
    from pruning_core.catalog import INPUT_SIZE, MIN_INPUT_SIZE, models_fitting
    from pruning_core.config import Config, ConfigError
    from pruning_core.data import DATASETS

    assert MIN_INPUT_SIZE == {k: s.min_input_size for k, s in MODELS.items()}
    assert INPUT_SIZE == {k: s.input_size[0] for k, s in DATASETS.items()}
    assert all(s.input_size[0] == s.input_size[1] for s in DATASETS.values())
    assert models_fitting("digits") == ["lenet300_100", "conv2", "conv4", "conv6", "resnet20", "resnet56", "resnet18"]
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"model": {"name": "lenet5"}, "dataset": {"name": "digits"}})
    (error,) = info.value.errors
    assert error.field == "model.name" and "8x8 images of digits" in error.allowed and "10x10" in error.allowed
    Config.from_dict({"model": {"name": "conv6"}, "dataset": {"name": "digits"}})        # 8 ≥ 8: fits
    Config.from_dict({"model": {"name": "lenet5"}, "dataset": {"name": "fashion_mnist"}})
