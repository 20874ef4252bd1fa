import dataclasses
import io
import re
import sys

from impaint import progress
from impaint.progress import LOG_INTERVAL, bar
from impaint.train import train
from tests.helpers import tiny_config


def in_a_log(monkeypatch):
    """stderr as a log file's or a pipe's, outside a notebook, wherever pytest runs: `pytest
    -s` in a terminal leaves the terminal's stderr in place."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)


def test_a_bar_redraws_seldom_off_a_terminal_and_freely_on_one(monkeypatch):
    in_a_log(monkeypatch)
    assert bar(range(3), file=io.StringIO()).mininterval == LOG_INTERVAL
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert bar(range(3), file=io.StringIO()).mininterval == 0.1  # tqdm's own
    assert bar(range(3), file=io.StringIO(), mininterval=5).mininterval == 5  # as asked


def test_training_into_a_log_writes_few_redraws(image_folder, tmp_path, capfd, monkeypatch):
    # an interval no run reaches, however slow the machine: the redraws counted are the ones
    # the training loop forces, not the clock's
    monkeypatch.setattr(progress, "LOG_INTERVAL", 1e9)
    cfg = dataclasses.replace(tiny_config(image_folder, tmp_path / "run", steps=150),
                              valid_every=100)
    train(cfg, progress=True)
    err = capfd.readouterr().err
    # the first draw, and one with each validation's `step N:` line (100, and the last,
    # which the close does not draw again): not one a step
    assert re.findall(r"train: +\d+%\|[^|]*\| (\d+)/150", err) == ["0", "100", "150"], err


def test_bars_are_redrawn_on_a_terminal_and_in_a_notebook_not_in_a_log(monkeypatch):
    in_a_log(monkeypatch)
    assert not progress.redrawn()
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # as if in Jupyter
    assert progress.redrawn()
    assert bar(range(3), file=io.StringIO()).mininterval == 0.1  # redrawn freely there
