"""The bounded inference pool (pool.py): a full queue answers 503, and its Retry-After counts
a worker's time on the fills that succeed."""

import threading
import time

import httpx
import pytest

import impaint.serve.pool as serve_pool
from impaint.model import ImplicitInpainter, ModelConfig
from impaint.serve import Limits
from impaint.serve.app import create_app
from impaint.serve.server import running

from .conftest import (assert_one_line_error, box_mask, encode, held_fills, mask_png,
                       noise_image, post)


def test_a_full_queue_answers_503_with_retry_after(monkeypatch):
    release = held_fills(monkeypatch)
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
    app = create_app(model, limits=Limits(workers=1, queue=1))
    data, mask = encode(noise_image()), mask_png(box_mask())
    with running(app) as url:
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(post(url, data, mask)))
                   for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while app.state.pool.busy < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        r = post(url, data, mask)  # a worker busy, the queue full; no request timed yet
        assert_one_line_error(r, 503, "busy (2 requests running or waiting)")
        assert r.headers["retry-after"] == "20"  # two ahead, at a first guess of 10 s each
        app.state.pool.mean_s = 3.0  # a worker's mean time on one request
        r = post(url, data, mask)
        assert r.headers["retry-after"] == "6"  # two requests ahead, one worker
        release.set()
        for t in threads:
            t.join()
        assert [a.status_code for a in answers] == [200, 200]


def test_retry_after_counts_a_workers_time_not_the_wait_for_one(monkeypatch):
    """One worker, three requests of 0.2 s each on a fake clock: the last waits 0.4 s for
    the worker, but a worker's time on one request is what the queue's length multiplies.
    Each time taken is exactly 0.2 s, so the mean stays 0.2; timed from the hand-over to
    the pool, the waits would be counted (0.2, 0.4, 0.6 s: a mean of 0.312)."""
    import asyncio
    import types

    clock = [0.0]  # advanced by the work only: no real time is measured
    monkeypatch.setattr(serve_pool, "time",
                        types.SimpleNamespace(perf_counter=lambda: clock[0]))
    pool = serve_pool.InferencePool(workers=1, queue=2)
    # the first request starts once all three are handed to the pool, so that a clock read
    # at the hand-over (the bug) reads 0 for each, whatever the threads' timing
    handed, all_handed = [], threading.Event()
    submit = pool.executor.submit

    def counted_submit(*args):
        handed.append(args)
        if len(handed) == 3:
            all_handed.set()
        return submit(*args)
    pool.executor.submit = counted_submit

    def fill():
        assert all_handed.wait(10)
        clock[0] += 0.2

    async def three():
        for _ in range(3):
            pool.acquire()
        try:
            await asyncio.gather(*(pool.run(fill) for _ in range(3)))
        finally:
            for _ in range(3):
                pool.release()

    asyncio.run(three())
    assert clock[0] == pytest.approx(0.6) and len(handed) == 3
    assert pool.mean_s == pytest.approx(0.2) and pool.busy == 0
    pool.executor.shutdown()


def test_retry_after_times_only_the_fills_that_succeed():
    """A preview, or a request that fails at once, would pull the mean down: the 503 would
    tell clients to come back too soon."""
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
    app = create_app(model)
    data, hole = encode(noise_image()), mask_png(box_mask())
    with running(app) as url:
        app.state.pool.mean_s = 10.0  # as after fills of 10 s
        assert post(url, b"not an image", hole).status_code == 400
        assert post(url, data, mask_png(box_mask(20, 20))).status_code == 400
        r = httpx.post(f"{url}/api/preview", files={"image": ("a.png", data)}, timeout=60)
        assert r.status_code == 200 and app.state.pool.mean_s == 10.0
        assert post(url, data, hole).status_code == 200
        assert app.state.pool.mean_s < 10.0


def test_the_workers_are_daemons_and_shutdown_cancels_the_queued_work():
    """A fill still running when the server stops is told to stop (test_serve_server runs
    that through Ctrl-C); Python's exit does not wait for its thread. Work still queued is
    cancelled, work running finishes, and nothing new is taken."""
    executor = serve_pool.DaemonExecutor(1, "test-infer")
    release = threading.Event()
    running_job = executor.submit(release.wait, 10)
    queued = executor.submit(lambda: "never")
    deadline = time.monotonic() + 10
    while not running_job.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = [t for t in threading.enumerate() if t.name.startswith("test-infer")]
    assert len(workers) == 1 and workers[0].daemon
    executor.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(print)
    release.set()
    assert running_job.result(10) is True
    workers[0].join(10)
    assert not workers[0].is_alive()  # ended once idle
    failing = serve_pool.DaemonExecutor(1, "test-fail")
    with pytest.raises(ZeroDivisionError):  # handed to the request that awaits it
        failing.submit(lambda: 1 / 0).result(10)
    failing.shutdown()


def test_an_unused_or_dropped_pool_leaves_no_threads():
    """Threads start with the first work, and end once their executor is collected (an app
    made and dropped, in a notebook or a test, once left its workers behind for good)."""
    import gc

    before = threading.active_count()
    unused = serve_pool.DaemonExecutor(4, "test-unused")
    assert threading.active_count() == before
    used = serve_pool.DaemonExecutor(2, "test-used")
    assert used.submit(lambda: 7).result(10) == 7
    workers = [t for t in threading.enumerate() if t.name.startswith("test-used")]
    assert len(workers) == 2
    del unused, used
    gc.collect()
    for t in workers:
        t.join(10)
    assert not any(t.is_alive() for t in workers)
