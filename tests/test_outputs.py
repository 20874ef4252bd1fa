"""What a command writes (outputs.py): refused before the work where it cannot be made,
written whole or not at all."""

import pytest

from impaint.outputs import OutputError, check_output, written_atomically


def test_an_output_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "dir").mkdir()
    for path, kind, message in (
            ("", "folder", "-o is empty: name the folder to write"),
            (" ", "file", "-o is empty: name the file to write"),
            (tmp_path / "notes.txt", "folder", "is a file: -o names the folder to write into"),
            (tmp_path / "dir", "file", "is a folder: -o names the file to write"),
            (tmp_path / "notes.txt" / "a" / "b.png", "file",
             f"{tmp_path / 'notes.txt'} is a file, not a folder")):
        with pytest.raises(OutputError) as error:
            check_output(path, kind)
        assert message in str(error.value) and "\n" not in str(error.value)
    # what can be made: a new folder's file, an existing folder, a file to replace
    assert check_output(str(tmp_path / "new" / "deeper" / "x.png"), "file") == \
        tmp_path / "new" / "deeper" / "x.png"
    assert check_output(tmp_path / "dir", "folder") == tmp_path / "dir"
    assert check_output(tmp_path / "notes.txt", "file", "--out") == tmp_path / "notes.txt"
    assert not (tmp_path / "new").exists()  # a check: nothing made


def test_a_file_is_written_whole_or_not_at_all(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"before")
    with pytest.raises(KeyboardInterrupt):
        with written_atomically(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"before" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]
    with written_atomically(target) as tmp:
        tmp.write_bytes(b"after")
    assert target.read_bytes() == b"after" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]
