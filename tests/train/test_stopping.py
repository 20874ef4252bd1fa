"""stop_on_signal: Ctrl-C asks for a stop after the step; a second one, at once (but for the
checkpoints being written). A whole run stopped and resumed: test_loop.py."""

import time

import pytest


def test_a_second_ctrl_c_waits_for_the_checkpoints_being_written():
    import os
    import signal
    from types import SimpleNamespace

    from impaint.train.stopping import stop_on_signal

    run = SimpleNamespace(stop_asked=False, saving=False)
    with stop_on_signal(run):
        os.kill(os.getpid(), signal.SIGINT)  # the first: stop after this step
        assert run.stop_asked
        run.saving = True
        os.kill(os.getpid(), signal.SIGINT)  # while writing: it waits
        run.saving = False
        with pytest.raises(KeyboardInterrupt):  # otherwise: at once
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
