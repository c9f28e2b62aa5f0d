"""The MNIST CNN's fused ReLU + max pool computes exactly the paper's layer order, only faster."""

import pytest
import torch
from torch import nn

from nusmooth.networks import MaxPool2x2ReLU, build_model


def paper_layer_order(model):
    """The same weights in the original order: conv, ReLU, conv, ReLU, MaxPool2d(2), dropout, ..."""
    features, classifier = model[1].features, model[1].classifier
    return nn.Sequential(
        model[0],
        features[0],
        nn.ReLU(),
        features[2],
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        classifier[0],
        nn.ReLU(),
        classifier[2],
        classifier[3],
    )


def test_outputs_and_input_gradients_are_bit_identical_to_the_paper_order():
    torch.manual_seed(0)
    model = build_model("mnist_cnn", 10, [0.1307], [0.3081]).eval()
    reference = paper_layer_order(model).eval()
    x = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
    ours, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with_grad, reference_with_grad = model(ours), reference(theirs)  # the pool's other path: gradients needed
    assert torch.equal(with_grad, reference_with_grad)
    with_grad.logsumexp(1).sum().backward()
    reference_with_grad.logsumexp(1).sum().backward()
    assert torch.equal(ours.grad, theirs.grad)


def test_parameter_names_are_those_of_the_paper_order():
    names = list(build_model("mnist_cnn", 10, [0.1307], [0.3081]).state_dict())
    assert names[2:6] == ["1.features.0.weight", "1.features.0.bias", "1.features.2.weight", "1.features.2.bias"]


def test_odd_sizes_are_refused():
    with pytest.raises(ValueError, match="even"):
        MaxPool2x2ReLU()(torch.zeros(1, 1, 5, 4))
