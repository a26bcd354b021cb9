"""The work and memory bounds at their edges (issue 27): one unit inside passes, one unit outside is refused.

``check_work`` refuses a job estimated over ``MAX_MINUTES`` at a stated throughput; ``check_fits`` refuses
a batch whose closed-form estimate exceeds the memory available. Both are seen from the CLI in
tests/cli/test_hostile_outputs.py; here each is pinned at its exact edge.
"""

from __future__ import annotations

import pytest

from mae_core.errors import MemoryBudgetError, WorkLimitError
from mae_core.models import get_variant
from mae_core.views import flops, memory
from mae_core.views import memory_budget as budget


@pytest.fixture()
def one_gflops(monkeypatch):
    """A stated throughput of exactly 1 GFLOP/s: the limit is then MAX_MINUTES x 60 x 1e9 FLOPs."""
    monkeypatch.setenv(flops.THROUGHPUT_ENV, "1")
    monkeypatch.delenv(flops.ALLOW_ENV, raising=False)
    flops.measured_throughput.cache_clear()
    yield flops.MAX_MINUTES * 60 * 1e9
    flops.measured_throughput.cache_clear()


def test_work_at_the_limit_passes_and_one_flop_more_is_refused(one_gflops):
    assert flops.check_work(one_gflops, "a job at the limit") == pytest.approx(flops.MAX_MINUTES)
    with pytest.raises(WorkLimitError, match="minutes"):
        flops.check_work(one_gflops * (1 + 1e-9), "a job just over")
    assert flops.check_work(one_gflops * 2, "an allowed job", allow=True) == pytest.approx(2 * flops.MAX_MINUTES)


def test_jobs_below_the_measuring_threshold_are_never_timed(one_gflops):
    assert flops.check_work(flops._MEASURE_ABOVE * (1 - 1e-9), "a small job", max_minutes=0) is None
    with pytest.raises(WorkLimitError):
        flops.check_work(flops._MEASURE_ABOVE, "the first measured job", max_minutes=0)


def test_memory_at_the_budget_passes_and_one_byte_less_is_refused(monkeypatch, one_gflops):
    cfg = get_variant("base").config
    need = memory.estimate(cfg, 4, 0.75, mode="inference").total
    monkeypatch.setattr(budget, "available_memory", lambda device="cpu": budget.Available(need, "test"))
    budget.check_fits(cfg, 4, 0.75, what="a forward at exactly the budget")
    monkeypatch.setattr(budget, "available_memory", lambda device="cpu": budget.Available(need - 1, "test"))
    with pytest.raises(MemoryBudgetError, match="largest batch that fits is 3"):
        budget.check_fits(cfg, 4, 0.75, what="a forward one byte over")


def test_what_a_command_keeps_is_counted_at_the_edge(monkeypatch, one_gflops):
    cfg = get_variant("base").config
    need = memory.estimate(cfg, 2, 0.0, mode="inference").total
    kept = 1000
    monkeypatch.setattr(budget, "available_memory", lambda device="cpu": budget.Available(need + 2 * kept, "test"))
    budget.check_fits(cfg, 2, 0.0, what="features", kept_per_image=kept)
    with pytest.raises(MemoryBudgetError):
        budget.check_fits(cfg, 2, 0.0, what="features", kept_per_image=kept + 1)
