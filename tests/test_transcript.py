"""The syscall transcript bindings write and the plugin shows."""
import errno

import pytest

from conformance.abi import transcript


@pytest.fixture
def recording():
    t = transcript.begin()
    yield t
    transcript.end()


def test_records_results_and_errnos(recording):
    assert transcript.record("splice", {"fd_in": 3}, lambda: 5) == 5

    def fail():
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    with pytest.raises(OSError):
        transcript.record("splice", {"fd_in": 3}, fail)
    assert recording.format().splitlines() == [
        "splice(fd_in=3) = 5",
        "splice(fd_in=3) = -1 EAGAIN (Resource temporarily unavailable)",
    ]
    assert recording.to_json()[1]["errno_name"] == "EAGAIN"


def test_nothing_is_recorded_outside_a_test():
    transcript.end()
    assert transcript.record("x", {}, lambda: 1) == 1
    assert transcript.end() is None


def test_long_transcripts_are_capped(recording):
    for _ in range(transcript.MAX_ENTRIES + 3):
        transcript.record("x", {}, lambda: 0)
    assert len(recording.entries) == transcript.MAX_ENTRIES
    assert recording.format().endswith("... 3 more calls not recorded")
