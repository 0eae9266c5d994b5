#!/usr/bin/env python
"""How accurate any Hutchinson trace can be on the tiny LMs whose exact Hessian the tests compute.

    PYTHONPATH=. python bench/hutchinson_variance.py          # m = 200, the tests' models and seed

For each cluster ``c`` it prints the relative standard error ``SE / |Tr(H_cc)|`` at ``m`` probes, from
the exact Hessian, of three estimators:

- all at once (ours): one Gaussian HVP per probe over every cluster, variance
  ``(||H_c,:||_F^2 + ||H_cc||_F^2) / m`` (the cross terms with the other clusters included);
- per cluster, Gaussian: a probe that is zero outside ``c`` (C times the HVPs), ``2 ||H_cc||_F^2 / m``;
- per cluster, Rademacher: ``2 (||H_cc||_F^2 - sum_i H_ii^2) / m``, the least variance of the three.

A relative standard error near ``sqrt(2 / (m r))`` means the block's effective rank ``r`` is small: then
no Hutchinson estimator, however many HVPs each probe costs, is within 5% at m = 200 for certain.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from kaldi_mpq.lm.checkpoint import build_model
from kaldi_mpq.quant.prototypes import train_prototypes
from kaldi_mpq.quant.sensitivity import sensitivity_batch
from kaldi_mpq.text.symbols import SymbolTable
from tests.quant.test_sensitivity import SENTS, TINY, _exact_hessian, _train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=3, help="model seed (the tests' is 3)")
    args = ap.parse_args()
    m = args.probes
    symbols = SymbolTable.from_words(["<eps>", "<s>", "</s>", "<unk>"] + [f"w{i}" for i in range(16)])
    print(f"{'model':12} {'cluster':15} {'weights':>7} {'trace':>9}  relative SE at m = {m}: "
          "all at once / per cluster (Gaussian) / per cluster (Rademacher)")
    for kind in sorted(TINY):
        torch.manual_seed(args.seed)
        model = build_model(TINY[kind], symbols)
        protos = train_prototypes(model, None, bits=(2,), method="ptq")
        batch = sensitivity_batch(SENTS, symbols.bos_id, symbols.eos_id, n=32)
        _train(model, batch)
        H, owner = _exact_hessian(model, protos.cmap, batch)
        for c, name in enumerate(protos.clusters):
            rows = owner == c
            block = H[np.ix_(rows, rows)]
            trace = abs(block.trace())
            together = np.sqrt(((H[rows] ** 2).sum() + (block ** 2).sum()) / m) / trace
            alone = np.sqrt(2 * (block ** 2).sum() / m) / trace
            rademacher = np.sqrt(2 * ((block ** 2).sum() - (np.diag(block) ** 2).sum()) / m) / trace
            print(f"{kind:12} {name:15} {int(rows.sum()):7d} {block.trace():9.3g}  "
                  f"{together:6.1%} / {alone:6.1%} / {rademacher:6.1%}")


if __name__ == "__main__":
    main()
