"""Makes the small ezkl-style example models used by the custom-model tests and the README.

    python tests/data/models/make_models.py   # rewrites <name>/network.onnx and input.json here
"""
import json
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent


class TwoInputs(nn.Module):
    """Two inputs, one output: relu(W x) + y."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x, y):
        return torch.relu(self.fc(x)) + y


class TwoOutputs(nn.Module):
    """One input, two outputs: a sigmoid head and a linear head."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(6, 3), nn.Linear(6, 2)

    def forward(self, x):
        return torch.sigmoid(self.a(x)), self.b(x)


def save(name, model, inputs, input_names, output_names):
    d = HERE / name
    d.mkdir(exist_ok=True)
    torch.onnx.export(model.eval(), tuple(inputs), d / "network.onnx", opset_version=18, dynamo=False,
                      input_names=input_names, output_names=output_names)
    (d / "input.json").write_text(json.dumps({"input_data": [x.flatten().tolist() for x in inputs]}))


if __name__ == "__main__":
    torch.manual_seed(0)
    save("mlp", nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3)), [torch.randn(1, 10)], ["x"], ["y"])
    save("two_inputs", TwoInputs(), [torch.randn(1, 8), torch.randn(1, 4)], ["x", "y"], ["out"])
    save("two_outputs", TwoOutputs(), [torch.randn(1, 6)], ["x"], ["p", "q"])
    save("conv_tanh", nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh()), [torch.randn(1, 1, 4, 4)],
         ["image"], ["features"])
    # a cheap first layer and a wide second: split in 2, its first part needs far fewer rows than its second
    save("relu_wide", nn.Sequential(nn.ReLU(), nn.Linear(16, 512)), [torch.randn(1, 16)], ["x"], ["y"])
