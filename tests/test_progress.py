import dataclasses
import io
import sys

from impaint.progress import LOG_INTERVAL, bar
from impaint.train import train
from tests.helpers import tiny_config


def test_a_bar_redraws_seldom_off_a_terminal_and_freely_on_one(monkeypatch):
    assert bar(range(3), file=io.StringIO()).mininterval == LOG_INTERVAL  # pytest's: no tty
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert bar(range(3), file=io.StringIO()).mininterval == 0.1  # tqdm's own
    assert bar(range(3), file=io.StringIO(), mininterval=5).mininterval == 5  # as asked


def test_training_into_a_log_writes_few_redraws(image_folder, tmp_path, capfd):
    cfg = dataclasses.replace(tiny_config(image_folder, tmp_path / "run", steps=150),
                              valid_every=100)
    train(cfg, progress=True)
    redraws = capfd.readouterr().err.count("train:")
    assert 1 <= redraws <= 4, redraws  # first, last and a close: not one a tenth of a second
