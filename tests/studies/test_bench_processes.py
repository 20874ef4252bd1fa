from impaint.studies.bench_processes import process_rates


def test_process_rates_runs_one_thread_workers_side_by_side():
    rates = process_rates("infer", 16, 2, seconds=0.3)
    assert len(rates) == 2 and all(r > 0 for r in rates)
