"""NumPy's answers for test/numpy.test.ts: reads cases (JSON lines) on stdin, writes one JSON result per line.

A case is {"fn": "linalg.matrixPower", "args": [...], "opts": {...}, "spread": bool, "float32": bool}
(float32: float arrays in float32, for functions whose answer depends on the dtype's range). Function and
option names are Fluxion's camelCase, turned into NumPy's snake_case here. An array argument is
{"array": nested values, "dtype": name}; numbers stay numbers. A result is {"ok": value} or
{"error": message}; arrays are {"shape", "dtype", "data"} with NaN and infinities as strings.
"""
import json
import re
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore")
np.seterr(all="ignore")


def snake(name):
    if name.isupper():
        return name
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def decode(v):
    if isinstance(v, dict) and "array" in v:
        data = [float(x) if isinstance(x, str) else x for x in flatten(v["array"])]
        float_dtype = np.float32 if FLOAT32 else np.float64
        return np.array(data, dtype=float_dtype if v["dtype"].startswith("float") else v["dtype"]).reshape(v["shape"])
    if isinstance(v, list):
        return [decode(x) for x in v]
    if v in ("Infinity", "-Infinity"):
        return float(v.replace("Infinity", "inf"))
    return v


def flatten(x):
    if isinstance(x, list):
        for y in x:
            yield from flatten(y)
    else:
        yield x


def number(x):
    x = float(x)
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def encode(r):
    if isinstance(r, (tuple, list)):
        return [encode(x) for x in r]
    a = np.asarray(r)
    return {"shape": list(a.shape), "dtype": str(a.dtype), "data": [number(x) for x in a.reshape(-1)]}


FLOAT32 = False
for line in sys.stdin:
    case = json.loads(line)
    FLOAT32 = case.get("float32", False)
    fn = np
    for part in case["fn"].split("."):
        fn = getattr(fn, snake(part))
    args = [decode(a) for a in case["args"]]
    if case.get("spread"):
        args = args[0] + args[1:]
    opts = {snake(k): decode(v) for k, v in case.get("opts", {}).items()}
    if isinstance(opts.get("axis"), list):
        opts["axis"] = tuple(opts["axis"])
    try:
        print(json.dumps({"ok": encode(fn(*args, **opts))}))
    except Exception as e:  # NumPy refuses: the case checks that Fluxion refuses too
        print(json.dumps({"error": f"{type(e).__name__}: {e}"[:200]}))
