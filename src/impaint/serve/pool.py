"""The bounded inference pool: a fixed number of worker threads and a queue in front of
them; a request that finds both full gets 503 with a Retry-After from the workers' mean time."""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
import weakref
from concurrent.futures import Executor, Future

from .errors import ApiError

FIRST_GUESS_S = 10.0  # Retry-After's time a request, before one has been timed


class DaemonExecutor(Executor):
    """ThreadPoolExecutor's work on daemon threads, which Python's exit does not wait for: a
    fill cut off as the server stops is told to stop (its request's `left`), and the server
    waits for it only as long as `server.STOP_SECONDS`. Threads start with the first work
    and end once the executor is shut down or collected (an app dropped unused)."""

    def __init__(self, workers: int, name: str):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.workers, self.name, self.closed, self.started = workers, name, False, False
        # The threads hold the queue, not the executor: collected, it tells them to end.
        weakref.finalize(self, _stop, self.jobs, workers)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if self.closed:
            raise RuntimeError("cannot take work after shutdown")
        if not self.started:
            self.started = True
            for i in range(self.workers):
                threading.Thread(target=_work, args=(self.jobs,), name=f"{self.name}_{i}",
                                 daemon=True).start()
        future: Future = Future()
        self.jobs.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more work; with `cancel_futures`, the work still queued is cancelled. The
        threads end once idle (`wait`: this waits for nothing, the point of daemons)."""
        self.closed = True
        while cancel_futures:
            try:
                self.jobs.get_nowait()[0].cancel()
            except queue.Empty:
                break
        _stop(self.jobs, self.workers)


def _stop(jobs: queue.SimpleQueue, workers: int) -> None:
    for _ in range(workers):  # a stop for each thread, after the work queued before it
        jobs.put(None)


def _work(jobs: queue.SimpleQueue) -> None:
    while (job := jobs.get()) is not None:
        future, fn, args, kwargs = job
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001  (handed to the awaiting request)
                future.set_exception(e)
        del job, future, fn, args, kwargs  # nothing of it kept while waiting for the next


class InferencePool:
    """A fixed number of worker threads and a bounded queue in front of them."""

    def __init__(self, workers: int, queue: int):
        self.workers, self.capacity = workers, workers + queue
        self.executor = DaemonExecutor(workers, "impaint-infer")
        self.busy = 0  # requests holding a slot: read by the event loop only
        # running mean of a worker's time on one request, for Retry-After; None until the
        # first one is done (a guess of 1 s told clients to come back 8 s too soon)
        self.mean_s: float | None = None
        self.running = 0  # work on the workers now, including a cut-off request's, which
        self.lock = threading.Lock()  # stops at its next pass (the server waits that long)

    def acquire(self) -> None:
        if self.busy >= self.capacity:
            # the queue ahead, `workers` at a time, at a worker's mean time on one request
            mean = FIRST_GUESS_S if self.mean_s is None else self.mean_s
            retry = max(1, math.ceil(mean * self.busy / self.workers))
            ahead = f"{self.busy} request{'s' if self.busy != 1 else ''}"
            raise ApiError(503, f"the server is busy ({ahead} running or waiting); try again "
                                f"in {retry} s", {"Retry-After": str(retry)})
        self.busy += 1

    def release(self) -> None:
        self.busy -= 1

    async def run(self, fn, *args, timed: bool = True):
        """`fn(*args)` on a worker. With `timed`, its time there (not the wait for one, which
        the queue's length already counts) goes into the mean if it succeeds: a request that
        fails at once, or a preview, would pull the mean far below a fill's time."""
        def work():
            start = time.perf_counter()
            with self.lock:
                self.running += 1
            try:
                out = fn(*args)
                if timed:
                    took = time.perf_counter() - start
                    self.mean_s = took if self.mean_s is None else 0.8 * self.mean_s + 0.2 * took
                return out
            finally:
                with self.lock:
                    self.running -= 1
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)
