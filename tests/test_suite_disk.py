"""The suite cleans up after itself: a passing test's ``tmp_path`` is gone when the next test starts.

One run of the suite used to leave ~12 GB of checkpoints in the temporary folder until the session ended
(and pytest keeps three sessions), which once filled the disk of the machine CI runs on. These two tests
run in file order: the first writes into its ``tmp_path``, the second checks that the folder is gone.
"""

from __future__ import annotations

from pathlib import Path

_seen: list[Path] = []


def test_a_passing_test_writes_into_its_tmp_path(tmp_path):
    (tmp_path / "checkpoint.pth").write_bytes(b"\0" * 1024)
    _seen.append(tmp_path)
    assert tmp_path.is_dir()


def test_that_tmp_path_is_removed_once_the_test_passed():
    assert _seen, "the previous test did not run first"
    assert not _seen[0].exists(), f"{_seen[0]} was left behind after its test passed"
