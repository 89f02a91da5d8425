#!/usr/bin/python3
"""Generates tests/data/golden/gpt_tiny.json: loss and gradients of a tiny GPT computed by
PyTorch (an independent implementation) for tests/unit/runtime/nn/gpt_golden_test.cc.
CI never runs this; it needs Debian's python3-torch:  /usr/bin/python3 make_gpt_golden.py

Weights are a closed-form function of (parameter index k in meshtrain's canonical order,
element i), which the C++ test recomputes, so no weight file is needed:
  weights (2-D):  0.2 * sin(0.37 i + 1.3 k + 0.5)
  LayerNorm gain: 1 + 0.1 * sin(0.37 i + 1.3 k + 0.5)
  biases:         0.05 * sin(0.37 i + 1.3 k + 0.5)
"""
import json, math, os, sys
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../bench/train"))
from torch_gpt import GPT  # noqa: E402

CONFIG = dict(n_layer=2, n_head=2, d_model=16, seq_len=8, vocab=37, d_ff=48)
TOKENS = [[(7 * b + 3 * t + 1) % 37 for t in range(8)] for b in range(3)]
TARGETS = [[(5 * b + 11 * t + 2) % 37 for t in range(8)] for b in range(3)]
TARGETS[1][4] = -1  # one ignored position


def value(name, k, i):
    s = math.sin(0.37 * i + 1.3 * k + 0.5)
    if name.endswith("bias"):
        return 0.05 * s
    if ".ln_" in name or name.startswith("ln_f"):
        return 1.0 + 0.1 * s
    return 0.2 * s


def main():
    torch.set_default_dtype(torch.float64)  # the reference is computed in double
    c = CONFIG
    model = GPT(c["n_layer"], c["n_head"], c["d_model"], c["seq_len"], c["vocab"], c["d_ff"])
    with torch.no_grad():
        for k, (name, p) in enumerate(model.named_in_meshtrain_order()):
            flat = p.view(-1)
            for i in range(flat.numel()):
                flat[i] = value(name, k, i)
    loss = model(torch.tensor(TOKENS), torch.tensor(TARGETS))
    loss.backward()
    grads = {}
    for name, p in model.named_in_meshtrain_order():
        g = p.grad.reshape(-1)
        grads[name] = {"sum": g.sum().item(), "abs_sum": g.abs().sum().item(),
                       "first": [x.item() for x in g[:6]]}
    out = {"config": c, "tokens": TOKENS, "targets": TARGETS, "loss": loss.item(),
           "grads": grads, "generator": "tests/data/golden/make_gpt_golden.py, torch " + torch.__version__}
    path = os.path.join(os.path.dirname(__file__), "gpt_tiny.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}: loss {loss.item():.10f}")


if __name__ == "__main__":
    main()
