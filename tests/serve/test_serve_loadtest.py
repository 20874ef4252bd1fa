"""The load script: bounded, against its own server on 127.0.0.1, and it reports."""

from impaint.serve.loadtest import report, run


def test_a_short_load_run_reports_latency_errors_and_memory(tiny_checkpoint):
    r = run(requests=6, concurrency=2, checkpoint=str(tiny_checkpoint))
    assert r["errors"] == {} and len(r["latencies"]) == 6
    text = report(r)
    assert "latency: p50" in text and "errors: 0" in text and "server memory (RSS)" in text
