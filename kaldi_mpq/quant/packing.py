"""Bit-packing of unsigned integer codes into uint8 storage, ``n`` bits per value, LSB first.

Value ``k`` occupies bits ``k*n .. k*n+n-1`` of the stream, bit ``j`` of the stream being bit ``j % 8``
of byte ``j // 8`` (the GGML / ONNX ``MatMulNBits`` convention). Example, 2-bit values [1, 2, 3, 0]::

    bits (LSB first): 10 01 11 00  ->  one byte 0b00111001 = 0x39

A stream of ``count`` values takes ``ceil(count * n / 8)`` bytes. Signed codes ``c`` in ``[-m, m]`` are
stored as ``c + m``; binary codes -1/+1 as 0/1 (:func:`to_unsigned`, :func:`from_unsigned`).
"""

from __future__ import annotations

import numpy as np
import torch


def packed_nbytes(count: int, bits: int) -> int:
    return -(-count * bits // 8)


def to_unsigned(codes: np.ndarray, bits: int) -> np.ndarray:
    """Signed codes -> unsigned storage values (uint8)."""
    if bits == 1:
        return (codes > 0).astype(np.uint8)
    return (codes.astype(np.int16) + (2 ** (bits - 1) - 1)).astype(np.uint8)


def from_unsigned(values: np.ndarray | torch.Tensor, bits: int):
    """Unsigned storage values -> signed codes (int8 / int16 per input type)."""
    if bits == 1:
        return values * 2 - 1
    return values - (2 ** (bits - 1) - 1)


def pack(values: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned ``values < 2**bits`` into ``ceil(len * bits / 8)`` bytes (vectorised)."""
    v = np.ascontiguousarray(values, dtype=np.uint8).ravel()
    if bits == 8:
        return v.copy()
    if bits in (1, 2, 4):
        per = 8 // bits
        pad = (-v.size) % per
        if pad:
            v = np.concatenate([v, np.zeros(pad, np.uint8)])
        v = v.reshape(-1, per).astype(np.uint8)
        shifts = (np.arange(per, dtype=np.uint8) * bits)
        return np.bitwise_or.reduce(v << shifts, axis=1).astype(np.uint8)
    bitplanes = ((v[:, None] >> np.arange(bits, dtype=np.uint8)) & 1).astype(np.uint8)
    return np.packbits(bitplanes.ravel(), bitorder="little")


def unpack(buf: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack`: ``count`` unsigned values (uint8)."""
    buf = np.ascontiguousarray(buf, dtype=np.uint8).ravel()
    if buf.size < packed_nbytes(count, bits):
        raise ValueError(f"{buf.size} bytes hold fewer than {count} {bits}-bit values")
    if bits == 8:
        return buf[:count].copy()
    if bits in (1, 2, 4):
        per = 8 // bits
        shifts = np.arange(per, dtype=np.uint8) * bits
        return ((buf[:, None] >> shifts) & ((1 << bits) - 1)).astype(np.uint8).ravel()[:count]
    planes = np.unpackbits(buf, count=count * bits, bitorder="little").reshape(count, bits)
    return (planes << np.arange(bits, dtype=np.uint8)).sum(axis=1, dtype=np.uint16).astype(np.uint8)


def unpack_torch(buf: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """:func:`unpack` on a uint8 torch tensor (used to decode layers on the fly); returns uint8."""
    if bits == 8:
        return buf[:count]
    if bits in (1, 2, 4):
        per = 8 // bits
        shifts = torch.arange(per, dtype=torch.uint8) * bits
        return ((buf[:, None] >> shifts) & ((1 << bits) - 1)).reshape(-1)[:count]
    planes = ((buf[:, None] >> torch.arange(8, dtype=torch.uint8)) & 1).reshape(-1)[: count * bits]
    weights = (1 << torch.arange(bits, dtype=torch.int32))
    return (planes.view(count, bits).to(torch.int32) * weights).sum(1).to(torch.uint8)
