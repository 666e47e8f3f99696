"""Models exported by PyTorch (torch.onnx.export, opset 14) for the ONNX import tests, each with an
input and PyTorch's output (test/fixtures/NAME.onnx and NAME.json):
- lstm-gru: a 2-layer bidirectional nn.LSTM, an nn.GRU and a linear head (batch first);
- gru-lm: a GRU language model (embedding, GRU, tied-size projection) over token ids;
- upsample: convolutions with nn.Upsample (bilinear) and F.interpolate (nearest);
- transformer: a 2-layer nn.TransformerEncoder.

Run by hand (PyTorch is not needed by the test suite): /usr/bin/python3 scripts/pytorch-rnn-fixture.py
"""
import json
import pathlib

import torch

torch.manual_seed(0)


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(4, 8, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = torch.nn.GRU(16, 6, batch_first=True)
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        z, _ = self.gru(y)
        return self.fc(z[:, -1])


class GruLanguageModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(20, 8)
        self.gru = torch.nn.GRU(8, 12, batch_first=True)
        self.out = torch.nn.Linear(12, 20)

    def forward(self, tokens):
        h, _ = self.gru(self.embed(tokens))
        return self.out(h)


class Upsampler(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.up = torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.head = torch.nn.Conv2d(4, 2, 1)

    def forward(self, x):
        y = self.up(torch.relu(self.conv(x)))
        return self.head(torch.nn.functional.interpolate(y, size=(11, 13), mode="nearest"))


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        layer = torch.nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, num_layers=2)

    def forward(self, x):
        return self.encoder(x)


out = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures"
fixtures = [
    ("lstm-gru", Model(), torch.randn(2, 5, 4)),
    ("gru-lm", GruLanguageModel(), torch.randint(0, 20, (2, 7))),
    ("upsample", Upsampler(), torch.randn(1, 3, 5, 6)),
    ("transformer", Encoder(), torch.randn(2, 6, 16)),
]
for name, model, x in fixtures:
    model.eval()
    torch.onnx.export(model, (x,), str(out / f"{name}.onnx"), input_names=["x"], output_names=["y"], opset_version=14)
    with torch.no_grad():
        y = model(x)
    (out / f"{name}.json").write_text(json.dumps({"torch": torch.__version__, "x": x.tolist(), "y": y.tolist()}) + "\n")
    print("wrote", out / f"{name}.onnx")
