"""Networks, initialisation, activations, optimizer and schedule from config."""

from __future__ import annotations

import pytest
import torch

from knowloc.activations import ACTIVATIONS, make_activation
from knowloc.errors import ConfigValueError
from knowloc.models import MLP, LeNet5, LeNetWSS


def test_activation_registry():
    assert set(ACTIVATIONS) == {"relu", "leaky_relu", "gelu", "silu", "elu", "softplus", "tanh", "sigmoid", "identity"}
    x = torch.tensor([-1.0, 0.0, 2.0])
    assert make_activation("relu")(x).tolist() == [0.0, 0.0, 2.0]
    assert make_activation("identity")(x).tolist() == x.tolist()
    with pytest.raises(ConfigValueError, match="swish.*relu"):
        make_activation("swish")


def test_mlp_layers_and_he_init():
    torch.manual_seed(0)
    net = MLP([784, 400, 2], activation="sigmoid", init="he", init_bias=True)
    names = [n for n, _ in net.named_children()]
    assert names == ["flatten", "fc1", "act1", "fc2"]
    assert isinstance(net.act1, torch.nn.Sigmoid)
    assert net.fc1.weight.std().item() == pytest.approx((2 / 784) ** 0.5, rel=0.02)
    assert net.fc1.bias.abs().sum() > 0  # He-initialised biases
    assert net(torch.zeros(5, 1, 28, 28)).shape == (5, 2)
    x = MLP([784, 100, 10], init="xavier")
    assert x.fc1.weight.std().item() == pytest.approx((2 / 884) ** 0.5, rel=0.03)
    assert MLP([4, 3], bias=False).fc1.bias is None
    with pytest.raises(ConfigValueError, match="model.net.init"):
        MLP([4, 3], init="orthogonal")


@pytest.mark.parametrize("cls,channels,size", [(LeNet5, 1, 28), (LeNetWSS, 1, 28), (LeNetWSS, 3, 32), (LeNet5, 3, 32)])
def test_lenets_shapes_and_named_layers(cls, channels, size):
    net = cls(in_channels=channels, num_classes=10, activation="tanh", input_size=size)
    assert net(torch.zeros(2, channels, size, size)).shape == (2, 10)
    layers = dict(net.named_children())
    assert "conv1" in layers and "fc1" in layers
    if cls is LeNetWSS:
        assert (layers["conv1"].out_channels, layers["conv2"].out_channels, layers["fc1"].out_features) == (20, 50, 500)
    else:
        assert (layers["conv1"].out_channels, layers["conv2"].out_channels, layers["fc1"].out_features) == (6, 16, 120)


def test_optimizer_and_schedule_from_config(run_job):
    rec = run_job(["logger=csv", "data.first_n=800", "trainer.max_epochs=2", "model.optimizer.lr=0.1",
                   "model.scheduler={_target_:torch.optim.lr_scheduler.StepLR,_partial_:true,step_size:1,gamma:0.5}",
                   "+callbacks.lr._target_=lightning.pytorch.callbacks.LearningRateMonitor",
                   "+callbacks.lr.logging_interval=epoch"])
    assert rec["status"] == "finished"
    import csv
    from pathlib import Path

    rows = list(csv.DictReader(open(Path(rec["config"]["paths"]["output_dir"]) / "metrics" / "metrics.csv")))
    lrs = [float(r["lr-SGD"]) for r in rows if r.get("lr-SGD")]
    assert lrs == [0.1, 0.05]


@pytest.mark.parametrize("model,data", [("lenet5", "mnist_embedded"), ("lenet_wss", "cifar10")])
def test_lenet_configs_train(run_job, tmp_path, model, data):
    from synthetic import write_cifar10

    write_cifar10(tmp_path / "data", n_per_batch=20, n_test=40)
    rec = run_job([f"model={model}", f"data={data}", f"paths.data_dir={tmp_path / 'data'}", "logger=none",
                   "data.first_n=300", "trainer.max_epochs=1"])
    assert rec["status"] == "finished" and 0 <= rec["metrics"]["test/acc"] <= 1
