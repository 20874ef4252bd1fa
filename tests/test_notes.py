"""Notes on the input (notes.py): warnings a program can filter, one line each from the CLI."""

import warnings

import pytest

from impaint.notes import ImpaintWarning, note, printed


def test_notes_are_warnings_a_program_can_silence_or_raise():
    with pytest.warns(ImpaintWarning, match="read by its first frame"):
        note("anim.gif read by its first frame")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImpaintWarning)
        with pytest.raises(ImpaintWarning):
            note("a note made an error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpaintWarning)
        note("silenced")  # nothing raised, nothing shown


def test_the_cli_prints_every_note_as_one_line_and_other_warnings_as_python_does(capsys):
    with pytest.warns(UserWarning) as shown:  # where warnings went before: still there
        with printed():
            for _ in range(2):  # each time, not once per place as Python's default
                note("skipped 1 unreadable image(s), e.g. a.png")
            warnings.warn("another library's", UserWarning)
    line = "impaint: note: skipped 1 unreadable image(s), e.g. a.png\n"
    assert capsys.readouterr().err == line * 2
    assert [str(w.message) for w in shown] == ["another library's"]
