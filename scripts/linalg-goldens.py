"""PyTorch float64 goldens for np.linalg: values and VJPs of solve, inv, det, slogdet, cholesky, qr,
svd and eigh. Writes test/golden/linalg-decompositions.json (read by test/linalg.test.ts).

Run by hand (PyTorch is not needed by the test suite): /usr/bin/python3 scripts/linalg-goldens.py
Singular and eigenvectors enter squared, since their signs are a convention of each library.
The symmetric inputs of cholesky and eigh are symmetrized first, as Fluxion (and JAX) do.
"""
import json
import pathlib

import torch

torch.manual_seed(20261203)
t = torch.float64


def tensor(x):
    return {"shape": list(x.shape), "data": x.detach().reshape(-1).tolist()}


def sym(x):
    return (x + x.transpose(-1, -2)) / 2


OPS = {
    "solve": lambda x: {"x": torch.linalg.solve(x[0], x[1])},
    "inv": lambda x: {"inv": torch.linalg.inv(x)},
    "det": lambda x: {"det": torch.linalg.det(x)},
    "slogdet": lambda x: {"logabsdet": torch.linalg.slogdet(x)[1]},
    "cholesky": lambda x: {"l": torch.linalg.cholesky(sym(x))},
    "qr": lambda x: dict(zip(("q", "r"), torch.linalg.qr(x))),
    "svd": lambda x: (lambda u, s, vh: {"s": s, "u2": u * u, "vh2": vh * vh})(
        *torch.linalg.svd(x, full_matrices=False)
    ),
    "eigh": lambda x: (lambda w, v: {"w": w, "v2": v * v})(*torch.linalg.eigh(sym(x))),
}


def well_conditioned(shape):
    x = torch.randn(shape, dtype=t)
    n = shape[-1]
    if shape[-1] == shape[-2]:
        x = x + 3 * torch.eye(n, dtype=t)
    return x


def spd(shape):
    x = torch.randn(shape, dtype=t)
    return x @ x.transpose(-1, -2) + shape[-1] * torch.eye(shape[-1], dtype=t)


INPUTS = [
    ("solve", well_conditioned((2, 3, 3))),
    ("inv", well_conditioned((3, 3))),
    ("inv", well_conditioned((2, 4, 4))),
    ("det", well_conditioned((3, 3))),
    ("det", torch.randn((2, 4, 4), dtype=t)),
    ("slogdet", torch.randn((3, 3), dtype=t)),
    ("cholesky", spd((3, 3))),
    ("cholesky", spd((2, 4, 4))),
    ("qr", torch.randn((4, 3), dtype=t)),
    ("qr", torch.randn((3, 3), dtype=t)),
    ("svd", torch.randn((4, 3), dtype=t)),
    ("svd", torch.randn((3, 5), dtype=t)),
    ("svd", torch.randn((2, 3, 3), dtype=t)),
    ("eigh", torch.randn((3, 3), dtype=t)),
    ("eigh", torch.randn((2, 4, 4), dtype=t)),
]

cases = []
for op, x in INPUTS:
    x = x.clone().requires_grad_(True)
    outs = OPS[op](x)
    cts = {k: torch.randn(v.shape, dtype=t) for k, v in outs.items()}
    loss = sum((outs[k] * cts[k]).sum() for k in outs)
    (g,) = torch.autograd.grad(loss, x)
    cases.append(
        {
            "op": op,
            "input": tensor(x),
            "outputs": {k: tensor(v) for k, v in outs.items()},
            "cotangents": {k: tensor(v) for k, v in cts.items()},
            "grad": tensor(g),
        }
    )

out = pathlib.Path(__file__).resolve().parent.parent / "test" / "golden" / "linalg-decompositions.json"
source = {"library": "torch", "version": torch.__version__, "dtype": "float64"}
lines = ",\n".join(json.dumps(c, separators=(",", ":")) for c in cases)
out.write_text(f'{{"format": "fluxion-golden/1", "family": "linalg", "source": {json.dumps(source)}, "cases": [\n{lines}\n]}}\n')
print(f"wrote {len(cases)} cases to {out}")
