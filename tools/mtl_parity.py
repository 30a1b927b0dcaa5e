#!/usr/bin/env python
"""Reference values for tests/mtl_parity.rs (PyTorch, float64; not run by CI).

The stage-3 model (conv k4 s2 p1 + ReLU trunk, flatten, heads Linear-Dropout(0)-ReLU-Linear)
on the weights and batch exported by detaux:

    cargo test --release --test mtl_parity -- --ignored export   # writes target/mtl_parity_inputs/
    python tools/mtl_parity.py target/mtl_parity_inputs tests/fixtures/mtl_parity

Four AdamW steps (lr 1e-3, wd 5e-3, torch defaults otherwise) for each weighting, as LibMTL
(median-research-group/LibMTL, LibMTL/weighting/{EW,UW,PCGrad,GradNorm}.py, rep_grad=False):
  equal     loss = L0 + L1
  uw        loss = sum L_i / (2 exp s_i) + s_i / 2, s init -0.5, s in the optimizer
  pcgrad    shared grads: per-task grads g_i, g~_i -= (g~_i.g_j / |g_j|^2) g_j when negative,
            sum; heads: grad of their own loss (with 2 tasks the order is irrelevant)
  gradnorm  after an epoch with mean losses L0 = (2.5, 1.7): lambda = T softmax(w) (w init 1),
            G_i = |lambda_i g_i|, target = mean(G) (r_i)^1.5 with r = (L/L0) / mean(L/L0),
            w.grad from sum |G - target|, shared grad sum lambda_i g_i, heads own-loss grads
Writes <w>_losses.npy (float64 [4 steps * 2 tasks]) and <w>_params.npy (float32, every
parameter after the last step, flattened in detaux's order), plus init.npy (a copy).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
LR, WD, B, STEPS = 1e-3, 5e-3, 6, 4


def load(src):
    order = []
    for line in open(os.path.join(src, "param_order.txt")):
        name, shape = line.split()
        order.append((name, tuple(int(s) for s in shape.split(","))))
    flat = np.load(os.path.join(src, "init.npy"))
    params, off = {}, 0
    for name, shape in order:
        n = int(np.prod(shape))
        params[name] = torch.tensor(flat[off:off + n].astype(np.float64).reshape(shape), requires_grad=True)
        off += n
    assert off == flat.size
    x = torch.tensor(np.load(os.path.join(src, "x.npy")).astype(np.float64))
    y = torch.tensor(np.load(os.path.join(src, "y.npy")))
    return order, flat, params, x, y


def forward(p, x):
    h = x
    for i in range(1, 5):
        h = F.relu(F.conv2d(h, p[f"trunk.conv{i}.weight"], p[f"trunk.conv{i}.bias"], stride=2, padding=1))
    z = h.flatten(1)
    out = []
    for t in range(2):
        a = F.linear(z, p[f"head{t}.fc1.weight"], p[f"head{t}.fc1.bias"])
        out.append(F.linear(F.relu(a), p[f"head{t}.fc2.weight"], p[f"head{t}.fc2.bias"]))
    return out


def run(weighting, order, params, x, y):
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    shared = [k for k, _ in order if k.startswith("trunk.")]
    heads = [[k for k, _ in order if k.startswith(f"head{t}.")] for t in range(2)]
    extra = []
    if weighting == "uw":
        s = torch.full((2,), -0.5, requires_grad=True)
        extra = [s]
    if weighting == "gradnorm":
        w = torch.ones(2, requires_grad=True)
        extra = [w]
        l0 = torch.tensor([2.5, 1.7])
    opt = torch.optim.AdamW([p[k] for k, _ in order] + extra, lr=LR, weight_decay=WD)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        logits = forward(p, x)
        L = [F.cross_entropy(logits[t], y[t]) for t in range(2)]
        losses += [l.item() for l in L]
        if weighting == "equal":
            (L[0] + L[1]).backward()
        elif weighting == "uw":
            (L[0] / (2 * torch.exp(s[0])) + s[0] / 2 + L[1] / (2 * torch.exp(s[1])) + s[1] / 2).backward()
        else:
            g = []
            for t in range(2):
                gs = torch.autograd.grad(L[t], [p[k] for k in shared] + [p[k] for k in heads[t]], retain_graph=True)
                g.append(torch.cat([v.flatten() for v in gs[:len(shared)]]))
                for k, v in zip(heads[t], gs[len(shared):]):
                    p[k].grad = v.clone()
            if weighting == "pcgrad":
                pc = [gi.clone() for gi in g]
                for i in range(2):
                    for j in range(2):
                        d = torch.dot(pc[i], g[j])
                        if d < 0:
                            pc[i] = pc[i] - d * g[j] / g[j].norm() ** 2
                new = pc[0] + pc[1]
            else:
                lam = 2 * F.softmax(w, dim=-1)
                G = torch.stack([torch.norm(lam[t] * g[t]) for t in range(2)])
                Li = torch.tensor([L[t].item() for t in range(2)]) / l0
                r = Li / Li.mean()
                target = (G.mean() * r ** 1.5).detach()
                (G - target).abs().sum().backward()
                lw = lam.detach()
                new = lw[0] * g[0] + lw[1] * g[1]
            off = 0
            for k in shared:
                n = p[k].numel()
                p[k].grad = new[off:off + n].view_as(p[k]).clone()
                off += n
        opt.step()
    flat = np.concatenate([p[k].detach().numpy().ravel() for k, _ in order]).astype(np.float32)
    return np.array(losses, dtype=np.float64), flat


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    order, flat, params, x, y = load(src)
    np.save(os.path.join(dst, "init.npy"), flat)
    for w in ["equal", "uw", "pcgrad", "gradnorm"]:
        losses, params_after = run(w, order, params, x, y)
        np.save(os.path.join(dst, f"{w}_losses.npy"), losses)
        np.save(os.path.join(dst, f"{w}_params.npy"), params_after)
        print(w, losses)


if __name__ == "__main__":
    main()
