#!/usr/bin/env python
"""PyTorch side of tools/compare.sh and tools/curves.sh: one stage-1 or one stage-3 (MTL) training step, timed.

    python tools/anchors/torch_steps.py --which stage1|mtl [--batch B] [--threads T] [--quick]

stage1 is the step of benches/train_step.rs (ids `1t`, `2t`; other B:
`stage1_train_step_curve/bB-Tt`): B = 32 pairs (--batch B) of 64x64x3 images (uniform in
[0, 1)), the SimpleConv64 autoencoder with K = 10 projectors of d = 10, every term of the
stage-1 loss with beta1 = beta2 = beta3 = 1 (reconstruction MSE, sparsity, consistency on
2B of the K*B mixes, distance with the oracle forced on every other pair, the detached
distribution term; lambdas 0.1, 0.1, 100, 1e-4), backward, and one Adam step (lr 5e-4,
weight_decay 1e-6, L2 as torch.optim.Adam applies it). The model and the loss are
`build` and `step` of tools/stage1_parity.py (the reference `BasicModel.training_step`),
here in float32.

mtl is the step of benches/mtl_step.rs (ids `threads_T`): batch B = 32 (--batch B) of 64x64x3 images, the
trunk Conv(4, 2, 1)+ReLU with widths 32, 32, 64, 64, flatten to 1024, two heads
Linear(1024, 512)-Dropout(0.1)-ReLU-Linear(512, C) for C = 4 and 6, the sum of the two
cross-entropies (equal weighting), backward, AdamW (lr 1e-4, weight_decay 5e-3), dropout on.

Timing (tools/anchors/timing.py): torch.set_num_threads(T); warm-up steps, then the median of
individually timed steps (at least 30 steps and 3 s; --quick: 3 steps).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import stage1_parity  # noqa: E402  (sets float64 as the default dtype; reset below)
import timing  # noqa: E402

torch.set_default_dtype(torch.float32)



def stage1_step_fn(B):
    enc, dec, projs, _ = stage1_parity.build(d=10, K=10, c=3)
    params = list(enc.parameters()) + list(dec.parameters()) + list(projs.parameters())
    opt = torch.optim.Adam(params, lr=5e-4, weight_decay=1e-6)
    g = torch.Generator().manual_seed(4)
    x1 = torch.rand(B, 3, 64, 64, generator=g)
    x2 = torch.rand(B, 3, 64, 64, generator=g)
    differs = [b % 2 == 0 for b in range(B)]
    k = len(projs)
    flat = torch.randperm(k * B, generator=g)[:2 * B].tolist()
    mixes = [(i // B, i % B) for i in flat]

    def fn():
        opt.zero_grad()
        loss, _, _ = stage1_parity.step(enc, dec, projs, x1, x2, differs, mixes, forced=True, trainable_reg=False)
        loss.backward()
        opt.step()
        return None

    return fn


def mtl_step_fn(B):
    def conv(i, o):
        return [nn.Conv2d(i, o, 4, 2, 1), nn.ReLU()]

    trunk = nn.Sequential(*conv(3, 32), *conv(32, 32), *conv(32, 64), *conv(64, 64), nn.Flatten())
    heads = nn.ModuleList(
        [nn.Sequential(nn.Linear(1024, 512), nn.Dropout(0.1), nn.ReLU(), nn.Linear(512, c)) for c in (4, 6)])
    trunk.train()
    heads.train()
    opt = torch.optim.AdamW(list(trunk.parameters()) + list(heads.parameters()), lr=1e-4, weight_decay=5e-3)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(B, 3, 64, 64, generator=g)
    ys = [torch.randint(0, c, (B,), generator=g) for c in (4, 6)]

    def fn():
        opt.zero_grad()
        z = trunk(x)
        logits = [h(z) for h in heads]
        total = sum(F.cross_entropy(lg, y) for lg, y in zip(logits, ys))
        total.backward()
        opt.step()
        return None

    return fn


def main():
    p = timing.parser(__doc__.splitlines()[1])
    p.add_argument("--which", choices=["stage1", "mtl"], required=True)
    p.add_argument("--batch", type=int, default=32, help="pairs (stage1) or images (mtl) per step (default 32)")
    args = p.parse_args()
    timing.check_threads(args.threads)
    if not 2 <= args.batch <= 4096:
        sys.exit(f"error: --batch must be in 2..=4096, got {args.batch}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fn = stage1_step_fn(args.batch) if args.which == "stage1" else mtl_step_fn(args.batch)
    if args.quick:
        times = timing.time_calls(fn, warmup=1, min_calls=3, min_seconds=0.0)
    else:
        times = timing.time_calls(fn, warmup=5, min_calls=30, min_seconds=3.0)
    timing.report(f"torch {args.which} step", times, threads=torch.get_num_threads(), torch=torch.__version__)


if __name__ == "__main__":
    main()
