import numpy as np
import pytest
import torch

from kaldi_mpq.quant.packing import from_unsigned, pack, packed_nbytes, to_unsigned, unpack, unpack_torch
from kaldi_mpq.quant.quantizer import CODE_BITS, max_code


def test_lsb_first_layout():
    assert pack(np.array([1, 2, 3, 0]), 2).tolist() == [0x39]
    assert pack(np.array([1, 0, 0, 0, 0, 0, 0, 1, 1]), 1).tolist() == [0x81, 0x01]


@pytest.mark.parametrize("bits", CODE_BITS)
@pytest.mark.parametrize("count", [1, 7, 8, 9, 1001])
def test_round_trip_every_bit_width(bits, count):
    rng = np.random.default_rng(bits * 1000 + count)
    m = max_code(bits)
    codes = rng.integers(-m, m + 1, count) if bits > 1 else rng.choice([-1, 1], count)
    u = to_unsigned(codes, bits)
    assert u.max() < 2 ** bits
    buf = pack(u, bits)
    assert buf.size == packed_nbytes(count, bits)
    assert (from_unsigned(unpack(buf, bits, count).astype(np.int16), bits) == codes).all()
    back = from_unsigned(unpack_torch(torch.from_numpy(buf), bits, count).to(torch.int16), bits)
    assert (back.numpy() == codes).all()


def test_unpack_short_buffer_fails():
    with pytest.raises(ValueError):
        unpack(np.zeros(2, np.uint8), 3, 8)
