"""A recurrent model exported by PyTorch, for test/onnx-recurrent.test.ts: a 2-layer bidirectional
nn.LSTM, an nn.GRU and a linear head (batch first), exported with torch.onnx.export (opset 14) to
test/fixtures/lstm-gru.onnx, with an input and PyTorch's output in test/fixtures/lstm-gru.json.

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


out = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures"
model = Model().eval()
x = torch.randn(2, 5, 4)
torch.onnx.export(model, (x,), str(out / "lstm-gru.onnx"), input_names=["x"], output_names=["logits"], opset_version=14)
with torch.no_grad():
    logits = model(x)
(out / "lstm-gru.json").write_text(
    json.dumps({"torch": torch.__version__, "x": x.tolist(), "logits": logits.tolist()}) + "\n"
)
print("wrote", out / "lstm-gru.onnx")
