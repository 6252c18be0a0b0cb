"""Safe-copy slots: a bound across worker processes, and one conversion per file at a time."""

from __future__ import annotations

import multiprocessing

from portal.evidence.slots import conversion_slot

A, B = "a" * 32, "b" * 32


def test_one_file_is_converted_once_at_a_time_even_with_free_slots(tmp_path):
    with conversion_slot(tmp_path, 2, A) as first:
        with conversion_slot(tmp_path, 2, A) as second:
            assert first and not second
        with conversion_slot(tmp_path, 2, B) as other_file:
            assert other_file  # a second slot is free for another file


def test_slots_bound_conversions_and_are_released(tmp_path):
    with conversion_slot(tmp_path, 1, A) as first:
        with conversion_slot(tmp_path, 1, B) as second:
            assert first and not second
    with conversion_slot(tmp_path, 1, B) as after:
        assert after


def _try(directory, queue):
    with conversion_slot(directory, 1, B) as got:
        queue.put(got)


def test_the_bound_holds_across_processes(tmp_path):
    queue = multiprocessing.get_context("fork").Queue()
    with conversion_slot(tmp_path, 1, A):
        process = multiprocessing.get_context("fork").Process(target=_try, args=(tmp_path, queue))
        process.start()
        process.join(10)
    assert queue.get(timeout=5) is False
