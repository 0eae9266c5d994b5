#!/usr/bin/env python
"""Cost of every cluster's Hutchinson trace against plain Hessian-vector products, and against the
PyHessian package estimating the traces cluster by cluster.

    python bench/hessian_speed.py                         # 2x200 LSTM, 2k vocabulary, 16 sentences, m = 10
    python bench/hessian_speed.py --model transformer --probes 20

Three timings on the same model, mini-batch and number of probes m:

- plain: the gradient with ``create_graph`` plus m bare HVPs (``torch.autograd.grad``), nothing else;
- ours: :func:`kaldi_mpq.quant.sensitivity.hutchinson_traces`, every cluster's trace from m HVPs;
- pyhessian (if installed, ``pip install pyhessian``): its ``hessian`` object's gradient and its
  ``hessian_vector_product`` with a Rademacher probe that is zero outside one cluster, m per cluster
  (the per-layer loop of PyHessian issue #10; the package itself only estimates the whole model's trace).

Criterion: ours <= 1.5x plain. Printed ratios are of wall times measured back to back.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from kaldi_mpq.lm.checkpoint import build_model
from kaldi_mpq.lm.loss import token_nll
from kaldi_mpq.quant.clusters import as_rows, enumerate_clusters, fold_lstm_biases
from kaldi_mpq.quant.sensitivity import hutchinson_traces, sensitivity_batch
from kaldi_mpq.text.batching import IGNORE
from kaldi_mpq.text.symbols import SymbolTable

MODELS = {"lstm": dict(type="lstm", embed_dim=200, hidden_dim=200, num_layers=2),
          "transformer": dict(type="transformer", d_model=256, num_layers=2, num_heads=4, ff_dim=1024)}


def plain_hvps(model, params, batch, m: int) -> float:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    start = time.perf_counter()
    with sdpa_kernel([SDPBackend.MATH]):
        nll, tokens, _ = token_nll(model, batch)
        grads = torch.autograd.grad(nll / tokens, params, create_graph=True)
        for _ in range(m):
            torch.autograd.grad(grads, params, grad_outputs=[torch.randn_like(p) for p in params], retain_graph=True)
    return time.perf_counter() - start


def pyhessian_per_cluster(model, cmap, batch, m: int) -> float:
    from pyhessian import hessian
    from pyhessian.utils import hessian_vector_product
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def criterion(logits, targets):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)

    start = time.perf_counter()
    with sdpa_kernel([SDPBackend.MATH]):
        h = hessian(model, criterion, data=batch, cuda=False)
        named = {id(p): n for n, p in model.named_parameters()}
        names = [named[id(p)] for p in h.params]
        for c in range(len(cmap.names)):
            for _ in range(m):
                v = []
                for n, p in zip(names, h.params):
                    rows = torch.from_numpy(cmap.rows[n] == c) if n in cmap.rows else torch.zeros(0, dtype=torch.bool)
                    z = torch.randint_like(p, high=2) * 2 - 1
                    mask = torch.zeros(as_rows(p).shape[0], 1) if rows.numel() == 0 else rows.float().unsqueeze(1)
                    v.append((as_rows(z) * mask).reshape(p.shape))
                hv = hessian_vector_product(h.gradsH, h.params, v)
                sum(float((a * b).sum()) for a, b in zip(hv, v))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), default="lstm")
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--sentences", type=int, default=16)
    ap.add_argument("--probes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    symbols = SymbolTable.from_words(["<eps>", "<s>", "</s>", "<unk>"] + [f"w{i}" for i in range(args.vocab - 4)])
    model = build_model(MODELS[args.model], symbols)
    fold_lstm_biases(model)
    model.eval()
    cmap = enumerate_clusters(model)
    g = torch.Generator().manual_seed(0)
    sents = [torch.randint(4, args.vocab, (int(torch.randint(10, 30, (1,), generator=g)),), generator=g).tolist()
             for _ in range(args.sentences)]
    batch = sensitivity_batch(sents, symbols.bos_id, symbols.eos_id, n=args.sentences)
    params = [p for n, p in model.named_parameters() if n in cmap.rows and (cmap.rows[n] >= 0).any()]
    m = args.probes
    print(f"{args.model} {MODELS[args.model]}, vocab {args.vocab}, {args.sentences} sentences "
          f"({int((batch[1] != IGNORE).sum())} tokens), {len(cmap.names)} clusters, m = {m}, {args.threads} thread(s)")
    t_plain = plain_hvps(model, params, batch, m)
    t_ours = hutchinson_traces(model, cmap, batch, probes=m, tol=0).seconds
    print(f"plain gradient + {m} HVPs          {t_plain:8.2f} s")
    print(f"all {len(cmap.names)} clusters' traces (ours)   {t_ours:8.2f} s   {t_ours / t_plain:.2f}x plain")
    try:
        t_py = pyhessian_per_cluster(model, cmap, batch, m)
        print(f"pyhessian, cluster by cluster     {t_py:8.2f} s   {t_py / t_ours:.1f}x ours")
    except ImportError:
        print("pyhessian not installed (pip install pyhessian): skipped")
    print(f"criterion all traces <= 1.5x plain HVPs: {t_ours / t_plain:.2f}x -> "
          f"{'met' if t_ours <= 1.5 * t_plain else 'NOT met'}")


if __name__ == "__main__":
    main()
