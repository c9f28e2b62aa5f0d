"""The benchmarks' limits are ceilings: each feeds the model what the code it bounds feeds it (batch
shape, layout, autograd mode, the MNIST CNN's pool path) and asks for no more gradients than it does.
A limit that does more work than the measured code gives ratios above 1 that say nothing."""

import torch

from support.benchmark_modules import load_benchmark
from nusmooth.networks import MaxPool2x2ReLU
from nusmooth.surrogate import SigmaOptimizer

bench_certify = load_benchmark("bench_certify")
bench_sigma = load_benchmark("bench_sigma")
CPU = torch.device("cpu")


def record_model_inputs(model: torch.nn.Module) -> list[dict]:
    """What every call of ``model`` (and of its max pools) sees: shape, layout, whether it builds a graph."""
    seen = []

    def note(kind):
        def hook(_module, inputs):
            x = inputs[0]
            seen.append(
                {
                    "kind": kind,
                    "shape": tuple(x.shape),
                    "contiguous": x.is_contiguous(),
                    "grad": torch.is_grad_enabled() and x.requires_grad,
                }
            )

        return hook

    model.register_forward_pre_hook(note("model"))
    for module in model.modules():
        if isinstance(module, MaxPool2x2ReLU):
            module.register_forward_pre_hook(note("pool"))
    return seen


def test_sigma_limit_sees_the_steps_batches_and_computes_no_parameter_gradient():
    batch, copies = 2, 3
    model = bench_sigma.benchmark_model("mnist_cnn", 10, CPU)
    x = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = bench_sigma.make_confident(model, x)
    seen = record_model_inputs(model)
    optimizer = bench_sigma.new_optimizer(SigmaOptimizer, model, (1, 28, 28), copies, CPU, "fp32")
    bench_sigma.sigma_step_rate(optimizer, x, labels, copies, 0.0)
    step_calls, seen[:] = list(seen), []
    sigma = torch.full((1, 28, 28), bench_sigma.BENCH_SIGMA)
    bench_sigma.forward_backward_rate(model, x, copies, sigma, 0.0, torch.Generator().manual_seed(1))
    assert seen == step_calls
    assert {call["kind"]: call["grad"] for call in seen} == {
        "model": True,
        "pool": True,
    }, "the step's pool path is the gradient one"
    assert all(
        p.grad is None for p in model.parameters()
    ), "the limit must not compute weight gradients (the step does not)"
    assert all(p.requires_grad for p in model.parameters()), "the parameters' requires_grad must be restored"


def test_certify_limit_sees_certify_manys_batches():
    shape, batch = (1, 28, 28), 50
    model = bench_sigma.benchmark_model("mnist_cnn", 10, CPU)
    seen = record_model_inputs(model)
    generator = torch.Generator().manual_seed(0)
    bench_certify.certify_rate(model, shape, torch.full(shape, 0.25), 2, 25, 50, batch, generator)
    certify_calls = [call for call in seen if call["kind"] == "model" and call["shape"][0] == batch]
    assert certify_calls, "certify_many never ran a full batch"
    seen[:] = []
    bench_certify.forward_rate(model, shape, torch.full(shape, 0.25), batch, 0.0, generator)
    assert seen[0] == certify_calls[0] and not seen[0]["grad"]
    assert [call["grad"] for call in seen if call["kind"] == "pool"] == [
        False
    ], "the counting pool path has no gradients"


def test_paired_ratios_pair_the_rounds_and_alternate_the_order():
    order = []
    results = bench_certify.alternate(3, {"a": lambda: order.append("a") or 1.0, "b": lambda: order.append("b") or 2.0})
    assert order == ["a", "b", "b", "a", "a", "b"]
    assert results == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}
    # Round ratios 0.5, 2.0, 1.5: the median pairs each rate with its own round's limit.
    assert bench_certify.paired_ratios([1.0, 8.0, 3.0], [2.0, 4.0, 2.0]) == {
        "ratio": 1.5,
        "ratio_min": 0.5,
        "ratio_max": 2.0,
    }
