"""The load script: bounded, against its own server on 127.0.0.1, and it reports."""

from impaint.serve.loadtest import report, run


def test_a_short_load_run_reports_latency_errors_and_memory(tiny_checkpoint):
    r = run(requests=6, concurrency=2, checkpoint=str(tiny_checkpoint))
    assert r["errors"] == {} and len(r["latencies"]) == 6
    text = report(r)
    assert "latency: p50" in text and "errors: 0" in text and "server memory (RSS)" in text


def test_the_report_keeps_percentiles_within_the_measured_latencies():
    """A short run's p95 is not extrapolated past its slowest request; a tenth of the run
    with no memory sample yet reads '-', not nan."""
    r = {"requests": 12, "concurrency": 2, "wall_s": 2.0, "errors": {},
         "latencies": [0.1 + 0.02 * i for i in range(12)], "rss_warm_mb": 300.0,
         "rss_end_mb": 301.0, "rss_peak_mb": 302.0, "memory": [(6, 300.0), (12, 301.0)]}
    text = report(r)
    p95 = int(text.split("p95 ")[1].split(" ms")[0])
    assert p95 <= int(text.split("max ")[1].split(" ms")[0]) == 320
    assert text.endswith("(MB): - - - - 300 300 300 300 300 301") and "nan" not in text


def test_a_run_of_one_request_reports_its_latency():
    """statistics.quantiles wants two latencies (before Python 3.13): one is its own p50."""
    r = {"requests": 1, "concurrency": 1, "wall_s": 0.2, "errors": {}, "latencies": [0.2],
         "rss_warm_mb": 300.0, "rss_end_mb": 301.0, "rss_peak_mb": 302.0, "memory": []}
    assert "latency: p50 200 ms, p95 200 ms, max 200 ms" in report(r)
