#!/usr/bin/python3
"""PyTorch twin of meshtrain's GPT, for comparisons: the same architecture (pre-LN blocks,
causal MHA, tanh-GELU MLP, tied head), the same dataset format and the same AdamW/cosine
schedule. Used by bench/train (tokens/s against PyTorch CPU) and to cross-check learning
curves. Needs Debian's python3-torch: run with /usr/bin/python3.

  /usr/bin/python3 bench/train/torch_gpt.py --data DIR --steps N [--loss-on answers] ...
"""
import argparse, json, math, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn, self.c_proj = nn.Linear(c, 3 * c), nn.Linear(c, c)


class Mlp(nn.Module):
    def __init__(self, c, f):
        super().__init__()
        self.c_fc, self.c_proj = nn.Linear(c, f), nn.Linear(f, c)


class Block(nn.Module):
    """Parameter names match meshtrain's (h.N.attn.c_attn.weight, ...)."""

    def __init__(self, c, h, f):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.attn, self.mlp = Attention(c), Mlp(c, f)
        self.h = h

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # torch 1.13: no fused SDPA
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        y = att.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v
        x = x + self.attn.c_proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, n_layer, n_head, d_model, seq_len, vocab, d_ff=0):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d_model), nn.Embedding(seq_len, d_model)
        self.h = nn.ModuleList(Block(d_model, n_head, d_ff or 4 * d_model) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if "c_proj" in name else 0.02
                nn.init.normal_(p, 0.0, 0.01 if name.startswith("wpe") else std)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-1)

    def named_in_meshtrain_order(self):
        """(name, parameter) in meshtrain's canonical order: wte, wpe, blocks, ln_f."""
        params = dict(self.named_parameters())
        names = ["wte.weight", "wpe.weight"]
        for i in range(len(self.h)):
            for part in ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                         "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                         "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]:
                names.append(f"h.{i}.{part}")
        return [(n, params[n]) for n in names + ["ln_f.weight", "ln_f.bias"]]


def load_split(data_dir, split):
    index = json.load(open(os.path.join(data_dir, "index.json")))
    arrays = [np.fromfile(os.path.join(data_dir, s["name"]), dtype="<u2")
              for s in index["shards"] if s["split"] == split]
    return index, np.concatenate(arrays).reshape(-1, index["sample_len"]).astype(np.int64)


def make_targets(x, seq, index, answers_only):
    inp, tgt = x[:, :seq].copy(), x[:, 1:seq + 1].copy()
    if "pad" in index:
        tgt[tgt == index["pad"]] = -1
    if answers_only:
        begin, end = index["answer"]["begin"], index["answer"]["end"]
        for r in range(inp.shape[0]):
            inside = False
            for t in range(seq):
                inside = inside or inp[r, t] == begin
                ends = tgt[r, t] == end
                if not inside:
                    tgt[r, t] = -1
                if ends:
                    inside = False
    return torch.from_numpy(inp), torch.from_numpy(tgt)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="dataset directory; omit for random tokens (throughput only)")
    ap.add_argument("--vocab", type=int, default=256, help="vocabulary for random tokens")
    ap.add_argument("--json", help="write the final throughput record to FILE")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--loss-on", default="all")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--log-every", type=int, default=50)
    a = ap.parse_args()
    torch.manual_seed(42)
    torch.set_num_threads(a.threads)
    if a.data:
        index, train = load_split(a.data, "train")
    else:  # random tokens: a throughput measurement, as bench/train/train_bench does
        index = {"vocab_size": a.vocab, "sample_len": a.seq + 1}
        train = np.random.default_rng(3).integers(0, a.vocab, (4096, a.seq + 1))
    model = GPT(a.layers, a.heads, a.d_model, a.seq, index["vocab_size"])
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and not n.startswith("w")]
    rest = [p for n, p in model.named_parameters() if not (p.dim() == 2 and not n.startswith("w"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.95))
    rng = np.random.default_rng(1)
    start = time.time()
    for step in range(a.steps):
        lr = a.lr * (step + 1) / a.warmup if step < a.warmup else \
            a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - a.warmup) / max(1, a.steps - a.warmup - 1))))
        for g in opt.param_groups:
            g["lr"] = lr
        x = train[rng.integers(0, len(train), a.batch)]
        inp, tgt = make_targets(x, a.seq, index, a.loss_on == "answers")
        loss = model(inp, tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step == 0:
            start = time.time()  # the first step warms up; time the rest
        elif (step + 1) % a.log_every == 0 or step + 1 == a.steps:
            el = time.time() - start
            rec = {"step": step + 1, "loss": round(loss.item(), 4),
                   "tokens_per_s": round(step * a.batch * a.seq / el)}
            print(json.dumps(rec), flush=True)
    if a.json:
        rec.update({"engine": "pytorch " + torch.__version__, "threads": a.threads,
                    "config": vars(a)})
        with open(a.json, "w") as f:
            json.dump(rec, f, indent=2)


if __name__ == "__main__":
    main()
