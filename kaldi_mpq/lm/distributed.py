"""Data-parallel LM training on several processes (GPUs), as launched by ``torchrun``.

``torchrun --nproc_per_node 4 $(which kaldi-mpq) train-lm ...`` starts one process per GPU; each joins
the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``), trains on cuda:LOCAL_RANK (NCCL) or on the CPU (gloo), and:

* reads the same global batches as a single process would (``batch_size`` is the global batch) and
  keeps only its share of their rows (:meth:`DataParallel.shard`, the batch classes' ``shard``);
* scales its loss by the global token (or row) count, so that DistributedDataParallel's gradient
  average equals the single-process gradient of the whole batch: the runs differ only by summation
  order and by the dropout masks each process draws;
* sums losses and token counts over the processes (:meth:`DataParallel.sum`), so every process takes
  the same decisions (learning-rate schedule, early stop, best epoch); only rank 0 logs and writes the
  checkpoint, which holds every rank's random-number state so that ``--resume`` continues exactly.

Without a process group everything here is the identity: one process trains as before.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn

from kaldi_mpq.errors import ConfigError
from kaldi_mpq.lm.loss import is_recurrent
from kaldi_mpq.lm.neural import default_device

logger = logging.getLogger(__name__)


def launched_world_size() -> int:
    """Processes torchrun started (``WORLD_SIZE``; 1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that prints and writes."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def training_device(option: str, local_rank: int | None = None) -> torch.device:
    """The device of ``train.device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) for this process: under
    torchrun ``auto`` and ``cuda`` mean ``cuda:LOCAL_RANK`` (one GPU per process); ``cuda:N`` is kept."""
    if option == "auto":
        option = default_device().type
    device = torch.device(option)
    if device.type == "cuda" and device.index is None and local_rank is not None:
        device = torch.device("cuda", local_rank)
    return device


@dataclass(frozen=True)
class DataParallel:
    """This process's place among the training processes (``world_size`` 1: training alone)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @classmethod
    def current(cls, device_option: str) -> "DataParallel":
        """The process group joined by :func:`torchrun_process_group` (or by the caller), if any."""
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            local_rank = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
            return cls(dist.get_rank(), dist.get_world_size(), training_device(device_option, local_rank))
        return cls(0, 1, training_device(device_option))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batches):
        """This process's rows of every batch (``batches.shard(rank, world_size)``); ``batches`` alone."""
        if not self.enabled:
            return batches
        if not hasattr(batches, "shard"):
            raise ConfigError(f"{type(batches).__name__} cannot be split over {self.world_size} processes")
        return batches.shard(self.rank, self.world_size)

    def wrap(self, module: nn.Module) -> nn.Module:
        """What the training step calls: ``module`` itself, or a view of it whose every forward goes
        through DistributedDataParallel (so that backward all-reduces the gradients)."""
        return DataParallelLM(module, self.device) if self.enabled else module

    def sum(self, values: Sequence[float | torch.Tensor]) -> list[float]:
        """``values`` summed over the processes (float64), as Python floats."""
        if not self.enabled:
            return [float(v) for v in values]
        t = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=self.device).detach().reshape(())
                         for v in values])
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, obj: Any) -> list:
        """Every process's ``obj``, in rank order (each process gets the whole list)."""
        if not self.enabled:
            return [obj]
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


class _Forward(nn.Module):
    """The one forward DDP wraps: the carried-state path (``forward_with_state``) or the plain one."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, inputs: torch.Tensor, state: Any, carry: bool):
        if carry:
            return self.lm.forward_with_state(inputs, state)
        return self.lm(inputs), None


class DataParallelLM(nn.Module):
    """An LM as :func:`kaldi_mpq.lm.loss.token_nll` sees it (``forward``, ``forward_with_state``,
    ``is_recurrent``), every call going through DistributedDataParallel. The parameters are the
    wrapped LM's own (the optimiser and checkpoints keep using the LM)."""

    def __init__(self, lm: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.is_recurrent = is_recurrent(lm)
        self.ddp = nn.parallel.DistributedDataParallel(
            _Forward(lm), device_ids=[device.index] if device.type == "cuda" else None)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.ddp(inputs, None, False)[0]

    def forward_with_state(self, inputs: torch.Tensor, state: Any):
        return self.ddp(inputs, state, True)


@contextmanager
def torchrun_process_group(device_option: str) -> Iterator[DataParallel]:
    """Join the process group torchrun describes (when ``WORLD_SIZE`` > 1) for the duration: NCCL on
    ``cuda:LOCAL_RANK``, gloo on the CPU; other ranks than 0 log warnings and errors only."""
    if launched_world_size() <= 1 or (dist.is_available() and dist.is_initialized()):
        yield DataParallel.current(device_option)
        return
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = training_device(device_option, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    package_logger = logging.getLogger("kaldi_mpq")
    level = package_logger.level
    par = DataParallel.current(device_option)
    if not par.is_main:
        package_logger.setLevel(logging.WARNING)
    try:
        if par.is_main:
            logger.info("data-parallel training on %d processes (%s)", par.world_size, dist.get_backend())
        yield par
    finally:
        package_logger.setLevel(level)
        dist.destroy_process_group()
