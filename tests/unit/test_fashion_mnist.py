"""The issue's acceptance run on real Fashion-MNIST (Debian's dataset-fashion-mnist; skipped without it).

LeNet-300-100, NAdam 1.2e-3, batch 60: 3 dense epochs reach ≥ 85 % test accuracy, and IMP with
weight rewinding at p = 0.2 for 5 rounds has sparsity 1 − 0.8^r after every round r (to within
one weight per layer of rounding).
"""

import pathlib

import pytest

from pruning_core import run
from pruning_core.data import available_offline

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("fashion_mnist" not in available_offline(),
                       reason="Fashion-MNIST not found offline: apt-get install dataset-fashion-mnist"),
]


def test_lenet300_on_fashion_mnist_dense_accuracy_and_imp_sparsity(tmp_path: pathlib.Path):
    config = {"dataset": {"name": "fashion_mnist"},
              "training": {"epochs": 3},
              "algorithm": {"rounds": 5, "rate": 0.2, "rewind": "weights", "rewind_epoch": 2}}
    result = run(config, cache_dir=tmp_path)
    rounds = result.rounds
    assert rounds["test_accuracy"].iloc[0] >= 0.85
    weights = 784 * 300 + 300 * 100 + 100 * 10          # 266,200 prunable weights, 3 layers
    for r, remaining in zip(rounds["round"], rounds["remaining_weights"]):
        assert abs(remaining - weights * 0.8 ** r) <= 3, (r, remaining)
    assert rounds["round"].tolist() == [0, 1, 2, 3, 4, 5]
    assert rounds["test_accuracy"].iloc[-1] >= 0.85
