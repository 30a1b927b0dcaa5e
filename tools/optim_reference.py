#!/usr/bin/env python
"""Pinned reference values for tests/optim.rs (not run by CI).

Problem: parameter p (float64, 5 elements) starting at P0; loss(p) = sum(C * (p - T)**2 + 0.1 * p**3)
(the cubic term makes gradients change non-linearly between steps). Five steps of each optimizer
below; prints p after every step as Rust array literals.

Usage: python tools/optim_reference.py   (PyTorch 2.x)
"""
import torch

P0 = [0.5, -1.5, 2.0, 0.0, 3.25]
T = [1.0, 0.5, -1.0, 0.25, 3.0]
C = [1.0, 2.0, 0.5, 3.0, 1.5]

CONFIGS = {
    "adam_l2": lambda p: torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
    "adam_betas": lambda p: torch.optim.Adam([p], lr=0.05, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.0),
    "sgd_momentum": lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9, nesterov=True),
}

t = torch.tensor(T, dtype=torch.float64)
c = torch.tensor(C, dtype=torch.float64)
for name, make in CONFIGS.items():
    p = torch.tensor(P0, dtype=torch.float64, requires_grad=True)
    opt = make(p)
    rows = []
    for _ in range(5):
        opt.zero_grad()
        loss = (c * (p - t) ** 2 + 0.1 * p ** 3).sum()
        loss.backward()
        opt.step()
        rows.append(p.detach().tolist())
    print(f"// {name}")
    print("[" + ", ".join("[" + ", ".join(repr(v) for v in r) + "]" for r in rows) + "]")
