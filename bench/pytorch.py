"""PyTorch's figures for Fluxion's CPU benchmark (bench/cpu.ts runs this as a child process, so
both libraries are measured in the same minute). Two threads, as ONNX Runtime gets here.

  python3 bench/pytorch.py workloads          one JSON line per workload of the main table
  python3 bench/pytorch.py model NAME B SIZE  a torchvision model's Adam training step: constructor,
                                              first step, steady step, peak memory (a fresh process
                                              per model, so its peak RSS is its own), optimizer.step()
  python3 bench/pytorch.py export NAME B SIZE FILE   the model exported to ONNX (for the inference row)
  python3 bench/pytorch.py gpt                 the GPT training step of the main table (GPT-2's block:
                                              pre-norm, causal attention, tanh GELU MLP, tied head)
"""
import json, resource, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def median_ms(fn, repeats=15):
    """Median of `repeats` calls after warming up; calls slower than 200 ms repeat 3 times only."""
    t0 = time.perf_counter()
    fn()
    if time.perf_counter() - t0 > 0.2:
        repeats = 3
    else:
        fn(), fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def emit(workload, ms, **extra):
    print(json.dumps({"workload": workload, "ms": ms, **extra}), flush=True)


def workloads():
    a = torch.randn(1024, 1024)
    emit("matmul 1024", median_ms(lambda: a @ a))
    c = torch.randn(1 << 20)
    emit("chain on 2^20 floats", median_ms(lambda: torch.tanh(c * 2 + 1) * torch.sigmoid(c) - c / 2))

    x = torch.randn(32, 1, 28, 28)
    w = torch.randn(6, 1, 5, 5)
    emit("LeNet conv1 (batch 32)", median_ms(lambda: F.conv2d(x, w, padding="same")))
    xv, wv = torch.randn(32, 64, 32, 32), torch.randn(64, 64, 3, 3)
    emit("VGG 3x3 conv 64->64 (batch 32, 32x32)", median_ms(lambda: F.conv2d(xv, wv, padding="same")))

    mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    sgd = torch.optim.SGD(mlp.parameters(), lr=0.01)
    xm, ym = torch.randn(128, 784), torch.arange(128) % 10

    def mlp_step():
        sgd.zero_grad()
        loss = F.cross_entropy(mlp(xm), ym)
        loss.backward()
        sgd.step()
        return loss.item()

    emit("MLP 784-512-512-10 SGD step (batch 128)", median_ms(mlp_step))

    # Fluxion's models.lenet5(): 5x5 convs (the first padded), ReLU, 2x2 max pools.
    lenet = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    adam = torch.optim.Adam(lenet.parameters(), 1e-3)
    xl, yl = torch.randn(64, 1, 28, 28), torch.arange(64) % 10

    def lenet_step():
        adam.zero_grad()
        loss = F.cross_entropy(lenet(xl), yl)
        loss.backward()
        adam.step()
        return loss.item()

    emit("LeNet-5 Adam step (batch 64)", median_ms(lenet_step))

    lstm = nn.LSTM(64, 128, batch_first=True)
    xs = torch.randn(16, 32, 64)
    with torch.no_grad():
        emit("LSTM 64->128, 32 steps, batch 16: forward", median_ms(lambda: lstm(xs)[0]))

    def lstm_train():
        lstm.zero_grad()
        out = lstm(xs)[0]
        loss = (out * out).sum()
        loss.backward()
        return loss.item()

    emit("LSTM 64->128, 32 steps, batch 16: forward+backward", median_ms(lstm_train))


def build(name):
    import torchvision

    return getattr(torchvision.models, name)(num_classes=10)


def model(name, batch, size):
    import torchvision  # noqa: F401  (imported before the clock starts)

    t0 = time.perf_counter()
    net = build(name)
    construct = (time.perf_counter() - t0) * 1e3
    adam = torch.optim.Adam(net.parameters(), 1e-3)
    x, y = torch.randn(batch, 3, size, size), torch.arange(batch) % 10

    def step():
        adam.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        adam.step()
        return loss.item()

    t0 = time.perf_counter()
    step()
    first = (time.perf_counter() - t0) * 1e3
    ms = median_ms(step, 6)
    peak = own_peak_kb() / 1024
    alone = median_ms(adam.step, 6)  # the update alone, on the last step's gradients
    print(json.dumps({"construct": construct, "first": first, "step": ms, "peakMB": peak, "adam": alone}), flush=True)


def own_peak_kb():
    """The process's own peak RSS: Linux's VmHWM (ru_maxrss starts at the parent's resident size at fork)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def export(name, batch, size, file):
    net = build(name).eval()
    torch.onnx.export(net, torch.randn(batch, 3, size, size), file, input_names=["x"], output_names=["y"], opset_version=17)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=-1)
        q, k, v = (a.view(b, t, self.heads, d // self.heads).transpose(1, 2) for a in (q, k, v))
        logits = q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        y = torch.softmax(logits.masked_fill(~causal, float("-inf")), -1) @ v
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab, positions, d, layers, heads):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(positions, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # the head tied to the token embedding


def gpt():
    """GPT (4 layers, 4 heads, width 128, context 64, vocabulary 128), batch 32, AdamW."""
    net = Gpt(128, 64, 128, 4, 4)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    ids = torch.randint(0, 128, (32, 65))

    def step():
        opt.zero_grad()
        logits = net(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 128), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()

    emit("GPT 4x128, context 64, batch 32: AdamW step", median_ms(step, 11))


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "workloads":
        workloads()
    elif kind == "model":
        model(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif kind == "gpt":
        gpt()
    elif kind == "export":
        export(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(f"unknown command {kind}")
