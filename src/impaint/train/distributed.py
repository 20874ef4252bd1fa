"""Training in several processes with PyTorch DDP: joining the process group, the few
collectives the training loop needs, and `launch`, which starts the processes on this machine.

Each process (rank) finds its place in the variables torchrun sets: RANK, WORLD_SIZE,
LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT. Without them there is one process and
every function here is a no-op, so single-process training runs exactly as before.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from ..notes import printed


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextlib.contextmanager
def process_group(device: torch.device):
    """Join the process group for the duration (gloo on CPU, NCCL on GPU); yields this rank's
    device (cuda:LOCAL_RANK: one GPU per process)."""
    if world_size() == 1:
        yield device
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        # torchrun sets OMP_NUM_THREADS=1; sharing the cores between this machine's ranks is
        # faster, and gives none more threads than there are cores.
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world_size()))
        torch.set_num_threads(max(1, _cpus() // local))
    owned = not dist.is_initialized()  # a caller that set up the group itself keeps it
    if owned:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    try:
        yield device
    finally:
        if owned:
            dist.destroy_process_group()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DDP around `model` when there are several processes: it starts every rank from rank 0's
    weights and averages the gradients during backward()."""
    if world_size() == 1:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                   else None)


def mean(values: list[float], device: torch.device) -> list[float]:
    """Each value averaged over the ranks, in one all-reduce; a NaN on any rank is a NaN on all."""
    if world_size() == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)  # SUM: gloo has no AVG
    return (t / world_size()).tolist()


def agree(problem: str | None, device: torch.device) -> str | None:
    """A reason to stop that every rank goes by: None only if no rank has one. Each rank sees
    its own file system (machines may not share one), so one rank's objection stops all."""
    if world_size() == 1:
        return problem
    objecting = mean([0.0 if problem is None else 1.0], device)[0] * world_size()
    if problem is None and objecting > 0:
        return f"{round(objecting)} other process(es) cannot start; see their message"
    return problem


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


@contextlib.contextmanager
def local_rank0_first():
    """Local rank 0 (one process per machine) runs the block before the others, e.g. decodes
    the images and writes the cache the others then read, rather than all decoding at once and
    racing to write it. On an error there is no barrier: the launcher stops the other ranks."""
    first = int(os.environ.get("LOCAL_RANK", "0")) == 0
    if world_size() > 1 and not first:
        dist.barrier()
    yield
    if world_size() > 1 and first:
        dist.barrier()


def launch(nproc: int, fn: Callable, *args) -> None:
    """Run fn(*args) in `nproc` new processes on this machine, as ranks 0..nproc-1 of one
    process group (what `torchrun --standalone --nproc_per_node=N` does). If a worker fails,
    the others are stopped and the first error a worker raised is raised here. A run the
    workers stopped on a signal (train.stopping.TrainingStopped: Ctrl-C reaches every process
    of the terminal's group) is raised here too, once they have saved it."""
    errors = mp.get_context("spawn").SimpleQueue()
    workers = mp.start_processes(_worker, (nproc, _free_port(), errors, fn, args), nprocs=nproc,
                                 join=False, start_method="spawn")
    try:
        _join(workers)
    except (mp.ProcessRaisedException, mp.ProcessExitedException) as e:
        first = None
        with contextlib.suppress(Exception):  # an exception that does not unpickle
            first = None if errors.empty() else errors.get()
        if first is None:
            raise
        raise first from e  # e carries the worker's traceback
    if not errors.empty():  # the workers ended well, but on a stop asked (rank 0's word)
        raise errors.get()


def _join(workers) -> None:
    """Wait for the workers. A first Ctrl-C here waits on: the terminal sent it to the workers
    too, and they finish their step and save it; a second one stops them at once."""
    interrupted = False
    while True:
        try:
            if workers.join():
                return
        except KeyboardInterrupt:
            if interrupted:
                for process in workers.processes:
                    process.terminate()
                raise
            interrupted = True


def _worker(index: int, nproc: int, port: int, errors, fn: Callable, args: tuple) -> None:
    os.environ.update(RANK=str(index), LOCAL_RANK=str(index), WORLD_SIZE=str(nproc),
                      LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    try:
        with printed():  # the notes on the input as the parent prints them, not Python's way
            fn(*args)
    except Exception as e:
        with contextlib.suppress(Exception):  # an exception that does not pickle
            errors.put(e)
        raise
    except KeyboardInterrupt as e:  # a stop on a signal, which every rank made at one step;
        # torch's spawn takes it for the parent's Ctrl-C and ends the worker quietly, so the
        # parent would report a finished run: rank 0 tells it (TrainingStopped: step, file).
        if index == 0 and e.args:
            with contextlib.suppress(Exception):
                errors.put(e)
        raise


def _free_port() -> int:
    # The port is free now; another program could take it before rank 0 binds it, a race too
    # unlikely on one machine to justify a rendezvous server.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
