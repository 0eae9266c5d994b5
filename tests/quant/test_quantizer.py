import pytest
import torch

from kaldi_mpq.quant.quantizer import CODE_BITS, levels, max_code, quantize_views, solve_scales


def _brute_force_error(x: torch.Tensor, bits: int) -> float:
    """Smallest ||x - alpha c||^2 over a dense alpha grid, each point refined by its LS scale."""
    x = x.double().flatten()
    m = max_code(bits)
    if bits == 1:
        c = torch.where(x >= 0, 1.0, -1.0)
        return float(((x - (x * c).sum() / (c * c).sum() * c) ** 2).sum())
    amax = x.abs().max().item()
    grid = torch.linspace(amax / m / 64, amax * 1.2 / m, 4000, dtype=torch.float64)
    c = torch.clamp(torch.round(x[None] / grid[:, None]), -m, m)
    a = (c * x).sum(1) / (c * c).sum(1).clamp(min=1e-30)
    return float(((x[None] - a[:, None] * c) ** 2).sum(1).min())


@pytest.mark.parametrize("bits", CODE_BITS)
def test_levels_are_the_papers_table(bits):
    lv = levels(bits, 0.5)
    if bits == 1:
        assert lv.tolist() == [-0.5, 0.5]
    else:
        m = 2 ** (bits - 1) - 1
        assert lv.tolist() == [0.5 * k for k in range(-m, m + 1)]
        assert 0.0 in lv.tolist()


@pytest.mark.parametrize("bits", CODE_BITS)
def test_codes_are_nearest_levels(bits):
    torch.manual_seed(bits)
    t = torch.randn(6, 50) * 0.1
    rid = torch.tensor([0, 0, 1, 1, 2, 2])
    b = torch.full((3,), bits)
    alpha = solve_scales([t], [rid], b)
    codes = quantize_views([t], [rid], b, alpha)[0]
    for k in range(3):
        lv = levels(bits, float(alpha[k])).float()
        rows = t[rid == k].flatten()
        nearest = lv[(rows[:, None] - lv[None]).abs().argmin(1)]
        got = alpha[k].float() * codes[rid == k].flatten().float()
        assert torch.allclose(got, nearest, atol=1e-6)
        assert set(codes[rid == k].unique().tolist()) <= set(range(-max_code(bits), max_code(bits) + 1))


@pytest.mark.parametrize("bits", CODE_BITS)
@pytest.mark.parametrize("dist", ["gauss", "laplace"])
def test_scale_solve_close_to_brute_force(bits, dist):
    torch.manual_seed(10 * bits)
    if dist == "gauss":
        t = torch.randn(20, 100) * 0.05
    else:
        t = torch.distributions.Laplace(0.0, 0.03).sample((20, 100))
    rid = torch.zeros(20, dtype=torch.long)
    b = torch.tensor([bits])
    alpha = solve_scales([t], [rid], b)
    c = quantize_views([t], [rid], b, alpha)[0].float()
    err = float(((t.double() - alpha[0] * c.double()) ** 2).sum())
    # Algorithm 1 is a coordinate descent: exact for 1 bit, near the global optimum at low bits; at
    # 5-8 bits the error surface over alpha is rugged at this cluster size (2000 weights).
    tol = 1e-6 if bits == 1 else (5e-3 if bits <= 4 else 0.12)
    assert err <= _brute_force_error(t, bits) * (1 + tol)


def test_als_never_increases_error():
    torch.manual_seed(1)
    t = torch.randn(8, 300) * 0.05
    rid = torch.arange(8) // 2
    b = torch.tensor([2, 3, 4, 8])
    start = torch.full((4,), 0.2, dtype=torch.float64)
    prev = None
    for steps in range(0, 8):
        a = solve_scales([t], [rid], b, alpha_init=start, max_steps=steps)
        c = quantize_views([t], [rid], b, a)[0].double()
        err = float(((t.double() - a[rid][:, None] * c) ** 2).sum())
        if prev is not None:
            assert err <= prev + 1e-9
        prev = err


def test_mixed_bits_vectorised_equals_one_by_one():
    torch.manual_seed(2)
    views = [torch.randn(6, 40) * 0.05, torch.randn(4, 1) * 0.05]
    ids = [torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 2, 2])]
    bits = torch.tensor([1, 4, 8])
    together = solve_scales(views, ids, bits)
    for k in range(3):
        sub = [v[i == k] for v, i in zip(views, ids)]
        sub_ids = [torch.zeros(len(s), dtype=torch.long) for s in sub]
        alone = solve_scales(sub, sub_ids, bits[k:k + 1])
        assert torch.allclose(together[k], alone[0], rtol=1e-6)
