"""How a cold compile splits its views among processes (fsql.compile.parallel.shares)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsql.compile import parallel
from fsql.compile.parallel import START_VIEWS, shares


@given(
    count=st.integers(min_value=0, max_value=3000),
    processes=st.integers(min_value=1, max_value=8),
)
def test_every_view_goes_to_exactly_one_process_in_order(count: int, processes: int) -> None:
    names = [f"v{i:05d}" for i in range(count)]
    split = shares(names, processes)
    assert len(split) == (processes if count else 1)
    flat = [n for share in split for n in share]
    assert sorted(flat) == names  # each once
    for share in split:
        assert list(share) == sorted(share)  # in the order given
    if processes > 1 and count:
        even = count // processes
        assert len(split[0]) == min(count, (count + START_VIEWS * (processes - 1)) // processes)
        assert len(split[0]) >= even
        assert max(len(s) for s in split[1:]) - min(len(s) for s in split[1:]) <= 1


def test_the_commands_process_takes_more_while_workers_start() -> None:
    names = [f"v{i:04d}" for i in range(1000)]
    own, worker = shares(names, 2)
    assert (len(own), len(worker)) == (550, 450)
    # Spread over the names, not the first 550: the project's kinds sort together.
    assert own[0] == "v0000" and own[-1] > "v0990"


def test_without_a_start_cost_the_shares_are_even(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "START_VIEWS", 0)
    assert [len(s) for s in shares([f"v{i}" for i in range(10)], 2)] == [5, 5]
