"""Identifiers: random ids are version-4 UUIDs that never repeat; run ids are uuid5."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
import warnings

from hypothesis import given
from hypothesis import strategies as st

from firehook.ids import new_id, run_id_for


def test_new_ids_are_version_4_uuids_and_do_not_repeat() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_threads_never_share_an_id() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        into.extend(new_id() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [text for into in found for text in into]
    assert len(set(every)) == len(every)


def test_a_forked_child_does_not_reuse_its_parents_randomness() -> None:
    new_id()  # the pool holds unused bytes now, which the child must not replay
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12 warns about fork() in a process with threads; the child only
        # makes ids and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.close(read)
        os.write(write, "\n".join(new_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        theirs = set(pipe.read().split("\n"))
    os.waitpid(child, 0)
    ours = {new_id() for _ in range(50)}
    assert len(theirs) == 50 and not ours & theirs


@given(routine=st.uuids(), key=st.text(max_size=300))
def test_run_ids_are_uuid5_of_the_routine_and_key(routine: uuid.UUID, key: str) -> None:
    expected = str(uuid.uuid5(routine, key))
    assert run_id_for(str(routine), key) == expected
    assert run_id_for(str(routine).upper(), key) == expected


def test_a_child_forked_while_the_pool_was_locked_still_makes_ids() -> None:
    """The lock a parent's thread held at the fork is not inherited locked."""
    from firehook import ids

    read, write = os.pipe()
    with ids._pool._lock, warnings.catch_warnings():  # as if another thread were in take16
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
        if child == 0:  # pragma: no cover - the child process
            os.close(read)
            os.write(write, new_id().encode())
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 10
    while (done := os.waitpid(child, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if done[0] == 0:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        made = pipe.read()
    assert done[0] == child, "the child hung on the inherited lock"
    assert uuid.UUID(made).version == 4
