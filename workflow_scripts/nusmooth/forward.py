"""The base model's forward pass, which every precision goes through (:func:`forward_logits`), and what
makes it faster on a GPU: reduced precision, memory layout, compilation and backend flags.

Only :data:`PRECISIONS` ``"bf16"`` changes numbers, and only those of the base model: noise is drawn
and added in float32 and the logits are turned back to float32 before argmax / softmax. A certificate
computed with ``precision="bf16"`` is a sound certificate of *the base classifier as evaluated under
bf16 autocast*, which is a slightly different function from the float32 one (its decision can differ
on inputs close to a class boundary); it says nothing exact about the float32 classifier.

``"fp32"`` enters no autocast context at all: results are bit-identical to calling the model directly.
"""

from __future__ import annotations

import torch

#: Precisions of the base model's forward pass: ``fp32`` (exact, the default) or ``bf16`` (autocast).
PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    """``precision`` itself when it is one of :data:`PRECISIONS`; a ValueError naming the fix otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {list(PRECISIONS)}, got {precision!r}. Fix: use 'fp32' (exact float32) "
            "or 'bf16' (bfloat16 autocast of the base model's forward; certificates are then about that model)"
        )
    return precision


def forward_logits(model: torch.nn.Module, inputs: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """``model(inputs)`` as float32 logits; under bf16 autocast of ``inputs``' device when ``precision="bf16"``.

    Only the forward runs under autocast; the float32 copy of the logits is what argmax and softmax
    read (and what gradients flow back through). With ``"fp32"`` this is exactly ``model(inputs)``.
    """
    if check_precision(precision) == "fp32":
        return model(inputs)
    with torch.autocast(device_type=inputs.device.type, dtype=torch.bfloat16):
        logits = model(inputs)
    return logits.float()


def prepare_model(model: torch.nn.Module, *, channels_last: bool, compile: bool) -> torch.nn.Module:
    """The base model made faster for repeated fixed-shape forward passes; numbers stay float32.

    - ``channels_last``: 4-D weights (convolutions) stored NHWC, which cuDNN's and oneDNN's fastest
      convolution kernels want; inputs may stay NCHW (the first convolution converts them). A model
      without 4-D weights is left as it is. Changes the order of float operations only.
    - ``compile``: ``torch.compile`` of the model (the first calls compile, later ones are fast).
      The returned module shares its parameters with ``model``: save ``model``, not the returned one
      (a compiled module's ``state_dict`` keys carry an ``_orig_mod.`` prefix).

    ``channels_last`` converts ``model`` in place.
    """
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)
    return model


def configure_backends(device: torch.device | str, cudnn_benchmark: bool) -> None:
    """Process-wide backend flags for ``device``; call once, before the first forward pass.

    TensorFloat-32 is switched off for matrix products and cuDNN convolutions (PyTorch enables it for
    cuDNN convolutions by default), so that ``fp32`` means float32 on every GPU. ``cudnn_benchmark``
    lets cuDNN time its convolution algorithms on the first batch of each shape and keep the fastest:
    faster for the fixed shapes of sampling, but the algorithm (hence the last bits of the logits) may
    differ from run to run. It applies to CUDA devices only and is switched off otherwise.
    """
    _keep_float32_exact()
    torch.backends.cudnn.benchmark = bool(cudnn_benchmark) and torch.device(device).type == "cuda"


def _keep_float32_exact() -> None:
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    if hasattr(cudnn, "conv"):
        # PyTorch >= 2.9 has per-operator flags, and reading the legacy allow_tf32 flags after setting
        # these raises: set only these.
        cudnn.conv.fp32_precision = "ieee"
        cudnn.rnn.fp32_precision = "ieee"
        matmul.fp32_precision = "ieee"
    else:
        cudnn.allow_tf32 = False
        matmul.allow_tf32 = False


def float32_is_exact() -> bool:
    """Whether :func:`configure_backends`' float32 settings are in force (no TF32 anywhere)."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    if hasattr(cudnn, "conv"):
        return (
            cudnn.conv.fp32_precision == "ieee"
            and cudnn.rnn.fp32_precision == "ieee"
            and matmul.fp32_precision == "ieee"
        )
    return not cudnn.allow_tf32 and not matmul.allow_tf32
