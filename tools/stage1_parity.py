#!/usr/bin/env python
"""Reference values for tests/stage1_parity.rs (PyTorch, float64; not run by CI).

Re-implements the reference `BasicModel.training_step` (intelligolabs/Detaux,
models/dis_basic_model.py, SimpleConv64 encoder/decoder with_bn=0, K=10 projectors, sum
aggregation, MSE) with every term active and beta1 = beta2 = beta3 = 1, on the weights, images,
pair flags and consistency mixes exported by detaux:

    cargo test --release --test stage1_parity -- --ignored export   # writes target/stage1_parity_inputs/
    python tools/stage1_parity.py target/stage1_parity_inputs tests/fixtures/stage1_parity

Cases: forced oracle + reference (detached) distribution term; unforced oracle + reference;
forced + trainable (PMP) distribution term. For each, writes `<case>.json` (every loss term,
and under "grad_share" the weight of each term's gradient in the total: the largest, over
parameter tensors, of |d(weighted term)/dp| / |d(total)/dp|, 0 for a term without gradient)
and `<case>_grads.npy` (float64, every parameter's gradient flattened and concatenated in
detaux's parameter order, listed in `param_order.txt`).

The oracle is the reference's softmax(1e6 * dist_norm) (a hard argmax here, the values are
far from ties); the consistency subset is the exported `mixes` (flat index k*B + b), standing in
for the reference's `torch.randperm`.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def build(d=10, K=10, c=3):
    enc = nn.Sequential(
        nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, d))
    dec = nn.Sequential(
        nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1024), nn.ReLU(),
        nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, c, 4, 2, 1))
    projs = nn.ModuleList([nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d)) for _ in range(K)])
    # detaux parameter name -> torch parameter
    names = {}
    for i, idx in enumerate([0, 2, 4, 6]):
        names[f"encoder.conv{i+1}"] = enc[idx]
    names["encoder.fc1"], names["encoder.fc2"] = enc[9], enc[11]
    for k in range(K):
        names[f"projector{k}.fc1"], names[f"projector{k}.fc2"] = projs[k][0], projs[k][2]
    names["decoder.fc1"], names["decoder.fc2"], names["decoder.fc3"] = dec[0], dec[2], dec[4]
    for i, idx in enumerate([7, 9, 11, 13]):
        names[f"decoder.deconv{i+1}"] = dec[idx]
    return enc, dec, projs, names


def step(enc, dec, projs, x1, x2, differs, mixes, forced, trainable_reg):
    K = len(projs)
    xx = torch.cat([x1, x2], 0)
    lat = lambda z: [p(z) for p in projs]
    z_latents = lat(enc(xx))
    yy = dec(torch.stack(z_latents).sum(0))
    loss_rec = F.mse_loss(yy, xx)  # MSE is symmetric: the reference's (xx, yy) order gives the same
    z_latents = torch.stack(z_latents, 0).view(K, 2, -1, z_latents[0].shape[-1]).transpose(0, 1)
    all_z = z_latents.permute(0, 2, 3, 1)
    eye = torch.eye(K)
    loss_sparsity = (all_z @ (1 - eye) * all_z).abs().sum(-1).mean()
    _, nl, bs, d = z_latents.shape
    z_misc, pre = [], []
    for i in range(nl):
        l = z_latents[1, :, :, :] + 0
        l[i] = z_latents[0, i, :, :] + 0
        z_misc.append(l.sum(0))
        pre.append(l)
    pre = torch.stack(pre, 1).view(nl, nl * bs, d)
    idxs = torch.tensor([k * bs + b for k, b in mixes])
    pre = pre[:, idxs, :]
    z_miscs = torch.stack(z_misc, 0).view(-1, d)[idxs]
    z_re = torch.stack(lat(enc(dec(z_miscs))), 0)
    loss_consistency = F.mse_loss(z_re, pre)
    dist = (z_latents[0] - z_latents[1]).pow(2).sum(-1).t()
    zs = z_latents.transpose(0, 1).reshape(nl, 2 * bs, d)
    dist_norm = dist / (torch.cdist(zs, zs).mean([-2, -1]) + 1e-8)
    if forced:
        sel = torch.zeros_like(dist_norm)
        sel[:, 1:] = F.one_hot(dist_norm[:, 1:].argmax(-1), nl - 1).double()
        obs = torch.tensor(differs)
        sel[obs] = 0.0
        sel[obs, 0] = 1.0
    else:
        sel = F.one_hot(dist_norm.argmax(-1), nl).double()
    sel = sel.detach()
    mask = 1 - sel
    loss_distance = (dist * mask).mean() + (10 * (0.05 - dist * (1 - mask)).relu()).mean()
    if trainable_reg:
        loss_reg = 1e2 * (1 / nl - torch.softmax(1000 * dist, -1).mean(0)).pow(2).mean()
    else:
        loss_reg = 1e2 * (1 / nl - sel.mean(0)).pow(2).mean()
    loss = loss_rec + (0.1 * loss_distance + 0.1 * loss_sparsity) + 100 * loss_consistency + 1e-4 * loss_reg
    terms = dict(reconstruction=loss_rec.item(), sparsity=loss_sparsity.item(), consistency=loss_consistency.item(),
                 distance=loss_distance.item(), distribution=loss_reg.item(), total=loss.item(),
                 selection=sel.argmax(-1).tolist())
    weighted = dict(reconstruction=loss_rec, sparsity=0.1 * loss_sparsity, consistency=100 * loss_consistency,
                    distance=0.1 * loss_distance, distribution=1e-4 * loss_reg)
    return loss, terms, weighted


def grad_share(weighted, loss, params):
    """For each weighted term: max over tensors of |grad of the term| / |grad of the total|."""
    ps = list(params.values())
    total = torch.autograd.grad(loss, ps, retain_graph=True)
    share = {}
    for name, term in weighted.items():
        if not term.requires_grad:
            share[name] = 0.0
            continue
        gs = torch.autograd.grad(term, ps, retain_graph=True, allow_unused=True)
        share[name] = max((g.norm() / t.norm()).item() if g is not None else 0.0 for g, t in zip(gs, total))
    return share


def main(src, dst):
    enc, dec, projs, names = build()
    order = open(os.path.join(src, "param_order.txt")).read().split()
    params = {}
    for full in order:
        layer, kind = full.rsplit(".", 1)
        p = getattr(names[layer], kind)
        with torch.no_grad():
            p.copy_(torch.from_numpy(np.load(os.path.join(src, "params", full + ".npy"))))
        params[full] = p
    assert len(params) == sum(1 for _ in list(enc.parameters()) + list(dec.parameters()) + list(projs.parameters()))
    x1 = torch.from_numpy(np.load(os.path.join(src, "x1.npy")))
    x2 = torch.from_numpy(np.load(os.path.join(src, "x2.npy")))
    differs = [bool(v) for v in np.load(os.path.join(src, "differs.npy"))]
    mixes = [tuple(int(v) for v in row) for row in np.load(os.path.join(src, "mixes.npy"))]
    os.makedirs(dst, exist_ok=True)
    for case, forced, trainable in [("forced", True, False), ("unforced", False, False), ("forced_trainable", True, True)]:
        for p in params.values():
            p.grad = None
        loss, terms, weighted = step(enc, dec, projs, x1, x2, differs, mixes, forced, trainable)
        terms["grad_share"] = grad_share(weighted, loss, params)
        loss.backward()
        flat = np.concatenate([params[n].grad.detach().numpy().ravel() for n in order]).astype(np.float64)
        np.save(os.path.join(dst, f"{case}_grads.npy"), flat)
        terms["torch"] = torch.__version__
        with open(os.path.join(dst, f"{case}.json"), "w") as f:
            json.dump(terms, f, indent=1)
        print(case, {k: v for k, v in terms.items() if k != "selection"})
    with open(os.path.join(dst, "param_order.txt"), "w") as f:
        f.write("\n".join(order) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
