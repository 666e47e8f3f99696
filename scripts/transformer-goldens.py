"""PyTorch float64 goldens for the transformer building blocks: the activations, layerNorm,
rmsNorm, groupNorm, instanceNorm, dotProductAttention (plain, causal, with a bias, a boolean mask,
grouped-query heads) and nn.MultiheadAttention (self-attention, a key padding mask). Each case
holds its inputs, the output, a random cotangent and the VJP for every input. Writes
test/golden/transformer-layers.json (read by test/transformer-layers.test.ts).

Run by hand (the test suite does not need PyTorch): /usr/bin/python3 scripts/transformer-goldens.py
PyTorch 1.13 has no rms_norm and no scaled_dot_product_attention: both are written out here from
their definitions in float64 torch operations (nn.RMSNorm's and jax.nn.dot_product_attention's).
"""
import json
import math
import pathlib

import torch
import torch.nn.functional as F

torch.manual_seed(20261203)
t = torch.float64


def tensor(x):
    return {"shape": list(x.shape), "data": x.detach().reshape(-1).tolist()}


def randn(*shape, scale=1.0):
    return (torch.randn(shape, dtype=t) * scale).requires_grad_()


def attention(q, k, v, bias=None, mask=None, causal=False):
    """jax.nn.dot_product_attention in [B, T, N, H]; k, v [B, S, K, H] with N a multiple of K."""
    groups = q.shape[2] // k.shape[2]
    k = k.repeat_interleave(groups, dim=2)
    v = v.repeat_interleave(groups, dim=2)
    logits = torch.einsum("btnh,bsnh->bnts", q, k) / math.sqrt(q.shape[-1])
    if bias is not None:
        logits = logits + bias
    keep = torch.ones(logits.shape, dtype=torch.bool)
    if mask is not None:
        keep = keep & mask
    if causal:
        keep = keep & torch.ones(logits.shape[-2:], dtype=torch.bool).tril()
    probs = torch.softmax(logits.masked_fill(~keep, float("-inf")), dim=-1)
    return torch.einsum("bnts,bsnh->btnh", probs, v)


cases = []


def case(op, inputs, output, params=None, constants=None):
    cot = torch.randn(output.shape, dtype=t)
    names = list(inputs)
    grads = torch.autograd.grad(output, [inputs[n] for n in names], cot)
    cases.append(
        {
            "op": op,
            "params": params or {},
            "inputs": {n: tensor(inputs[n]) for n in names},
            "constants": {n: tensor(c) for n, c in (constants or {}).items()},
            "output": tensor(output),
            "cotangent": tensor(cot),
            "grads": {n: tensor(g) for n, g in zip(names, grads)},
        }
    )


ACTIVATIONS = {
    "silu": F.silu,
    "mish": F.mish,
    "relu6": F.relu6,
    "hardSwish": F.hardswish,
    "hardSigmoid": F.hardsigmoid,
    "selu": F.selu,
    "celu": F.celu,
    "logSigmoid": F.logsigmoid,
    "softsign": F.softsign,
    "gelu": F.gelu,
    "geluTanh": lambda x: F.gelu(x, approximate="tanh"),
    "glu": lambda x: F.glu(x, dim=-1),
}
for name, f in ACTIVATIONS.items():
    x = randn(3, 4, scale=4.0)  # wide enough to cross relu6's and the hard functions' corners
    case(name, {"x": x}, f(x))

x, w, b = randn(2, 3, 4), randn(4), randn(4)
case("layerNorm", {"x": x, "weight": w, "bias": b}, F.layer_norm(x, (4,), w, b, eps=1e-5))
x, w = randn(2, 3, 4), randn(4)
case("rmsNorm", {"x": x, "weight": w}, x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6) * w, {"eps": 1e-6})
x, w, b = randn(2, 6, 3, 3), randn(6), randn(6)
case("groupNorm", {"x": x, "weight": w, "bias": b}, F.group_norm(x, 3, w, b, eps=1e-5), {"groups": 3})
x, w, b = randn(2, 3, 4, 4), randn(3), randn(3)
case("instanceNorm", {"x": x, "weight": w, "bias": b}, F.instance_norm(x, weight=w, bias=b, eps=1e-5))

q, k, v = randn(2, 5, 4, 8), randn(2, 6, 4, 8), randn(2, 6, 4, 8)
case("attention", {"q": q, "k": k, "v": v}, attention(q, k, v))
q, k, v = randn(2, 5, 4, 8), randn(2, 5, 4, 8), randn(2, 5, 4, 8)
case("attentionCausal", {"q": q, "k": k, "v": v}, attention(q, k, v, causal=True))
q, k, v, bias = randn(2, 5, 4, 8), randn(2, 6, 4, 8), randn(2, 6, 4, 8), randn(2, 4, 5, 6)
case("attentionBias", {"q": q, "k": k, "v": v, "bias": bias}, attention(q, k, v, bias=bias))
q, k, v = randn(2, 5, 4, 8), randn(2, 6, 2, 8), randn(2, 6, 2, 8)
mask = torch.rand((2, 1, 5, 6)) < 0.7
mask[..., 0] = True  # every query keeps at least one key
case("attentionGrouped", {"q": q, "k": k, "v": v}, attention(q, k, v, mask=mask), constants={"mask": mask.double()})

mha = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=t)
x = randn(2, 5, 8)
weights = {name: p for name, p in mha.named_parameters()}
y = mha(x, x, x, need_weights=False)[0]
case("multiHeadAttention", {"x": x, **weights}, y)
pad = torch.zeros((2, 5), dtype=torch.bool)
pad[0, 3:] = True
pad[1, 4:] = True
y = mha(x, x, x, key_padding_mask=pad, need_weights=False)[0]
case("multiHeadAttentionPadded", {"x": x, **weights}, y, constants={"keyPaddingMask": pad.double()})

out = pathlib.Path(__file__).resolve().parent.parent / "test" / "golden" / "transformer-layers.json"
out.write_text(json.dumps({"torch": torch.__version__, "cases": cases}))
print(f"{len(cases)} cases -> {out}")
