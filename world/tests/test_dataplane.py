"""The data plane: the split, stickiness, Lambda's limits, ECS capacity, and the accounting."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from world.dataplane import ECS, LAMBDA, Cohort, PlaneConfig, PlaneState, SecondIn, SecondOut, step
from world.scenario import load

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"


def config(**changes) -> PlaneConfig:
    """Lambda of 100 concurrent at 0.5 s (200 rps), tasks of 150 rps, no sticky clients."""
    base = PlaneConfig(
        request_secs=0.5,
        sticky_share=0.0,
        session_secs=120.0,
        refresh_cookie=True,
        concurrency_limit=100,
        burst_per_10s=1000,
        task_capacity_rps=150.0,
    )
    return replace(base, **changes)


def second(t: int = 0, **changes) -> SecondIn:
    """100 rps, all on Lambda, stickiness 300 s, no healthy ECS task."""
    base = SecondIn(t=t, demand_rps=100.0, lambda_weight=1, ecs_weight=0, stickiness_secs=300, ecs_healthy=0)
    return replace(base, **changes)


def run(cfg: PlaneConfig, inputs: list[SecondIn], state: PlaneState | None = None) -> tuple[PlaneState, list[SecondOut]]:
    state = state or PlaneState()
    outs = []
    for inp in inputs:
        state, out = step(state, cfg, inp)
        outs.append(out)
    return state, outs


def assert_accounts(out: SecondOut) -> None:
    assert out.served + out.errors_5xx == pytest.approx(out.demand, abs=1e-9)
    assert out.to_lambda + out.to_ecs + out.unrouted == pytest.approx(out.demand, abs=1e-9)
    assert out.lambda_served + out.lambda_throttled == pytest.approx(out.to_lambda, abs=1e-9)
    assert out.ecs_served + out.ecs_overloaded + out.ecs_no_target - out.unrouted == pytest.approx(out.to_ecs, abs=1e-9)
    for value in (out.to_lambda, out.to_ecs, out.lambda_served, out.lambda_throttled, out.ecs_served,
                  out.ecs_no_target, out.ecs_overloaded, out.unrouted, out.lambda_concurrency):
        assert value >= -1e-9


@pytest.mark.parametrize(
    "lambda_weight, ecs_weight, to_lambda, to_ecs, unrouted",
    [
        (1, 0, 100.0, 0.0, 0.0),
        (0, 1, 0.0, 100.0, 0.0),
        (3, 1, 75.0, 25.0, 0.0),
        (1, 999, 0.1, 99.9, 0.0),
        (0, 0, 0.0, 0.0, 100.0),
    ],
)
def test_without_sticky_clients_the_demand_splits_by_the_weights(lambda_weight, ecs_weight, to_lambda, to_ecs, unrouted):
    _, out = step(PlaneState(), config(), second(lambda_weight=lambda_weight, ecs_weight=ecs_weight, ecs_healthy=2))
    assert (out.to_lambda, out.to_ecs, out.unrouted) == pytest.approx((to_lambda, to_ecs, unrouted))
    assert_accounts(out)


def test_both_weights_zero_is_a_503_for_everyone():
    _, out = step(PlaneState(), config(sticky_share=0.3), second(lambda_weight=0, ecs_weight=0, ecs_healthy=2))
    assert out.ecs_no_target == pytest.approx(100.0)
    assert out.unrouted == pytest.approx(100.0)
    assert out.served == 0.0


def test_a_sticky_cohort_keeps_its_target_group_at_weight_zero():
    cfg = config(sticky_share=0.3, session_secs=100.0)
    state, _ = step(PlaneState(), cfg, second(0))
    assert state.cohorts == (Cohort(LAMBDA, 1.0, 0),)
    state, out = step(state, cfg, second(1, lambda_weight=0, ecs_weight=1, ecs_healthy=2))
    # 1/100 of the sessions ended; their clients came back and were bound to ECS.
    assert state.sticky_share(LAMBDA) == pytest.approx(0.99)
    assert state.sticky_share(ECS) == pytest.approx(0.01)
    assert out.to_lambda == pytest.approx(100 * 0.3 * 0.99)
    assert out.to_ecs == pytest.approx(100 * 0.7 + 100 * 0.3 * 0.01)


def test_with_refreshed_cookies_the_weight_zero_group_drains_with_the_sessions_only():
    cfg = config(sticky_share=0.3, session_secs=60.0)
    state, _ = step(PlaneState(), cfg, second(0))
    spilled = [second(t, lambda_weight=0, ecs_weight=1, ecs_healthy=2, stickiness_secs=30) for t in range(1, 121)]
    state, outs = run(cfg, spilled, state)
    # Still bound after 4 x the stickiness duration: the cookie is refreshed by every request.
    assert outs[119].to_lambda == pytest.approx(30 * (1 - 1 / 60) ** 120, rel=1e-6)
    assert len([c for c in state.cohorts if c.group == LAMBDA]) == 1


def test_without_refresh_a_cohort_is_bound_again_once_its_cookie_expires():
    cfg = config(sticky_share=0.3, session_secs=10_000.0, refresh_cookie=False)
    state, _ = step(PlaneState(), cfg, second(0, stickiness_secs=30))
    spilled = [second(t, lambda_weight=0, ecs_weight=1, ecs_healthy=2, stickiness_secs=30) for t in range(1, 31)]
    state, outs = run(cfg, spilled, state)
    assert outs[28].to_lambda > 29  # t = 29: the cookie set at 0 still holds
    assert outs[29].to_lambda == 0.0  # t = 30: it expired, and the clients went to ECS
    assert state.sticky_share(ECS) == pytest.approx(1.0)


def test_with_stickiness_off_sticky_clients_split_by_the_weights_too():
    cfg = config(sticky_share=0.5)
    state, _ = step(PlaneState(), cfg, second(0))
    state, out = step(state, cfg, second(1, lambda_weight=0, ecs_weight=1, ecs_healthy=2, stickiness_secs=0))
    assert out.to_lambda == 0.0
    assert out.to_ecs == pytest.approx(100.0)
    assert state.cohorts == ()


def test_a_weight_zero_group_loses_its_last_sticky_clients_instead_of_decaying_forever():
    cfg = config(sticky_share=0.3, session_secs=10.0)
    state, _ = step(PlaneState(), cfg, second(0))
    spilled = [second(t, lambda_weight=0, ecs_weight=1, ecs_healthy=2) for t in range(1, 200)]
    state, outs = run(cfg, spilled, state)
    assert outs[-1].to_lambda == 0.0
    assert outs[-1].lambda_concurrency == 0.0
    assert state.sticky_share(LAMBDA) == 0.0
    assert state.sticky_share(ECS) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "demand, served, throttled, concurrency, wanted",
    [
        (100.0, 100.0, 0.0, 50.0, 50.0),
        (200.0, 200.0, 0.0, 100.0, 100.0),  # exactly at the limit
        (300.0, 200.0, 100.0, 100.0, 150.0),  # 100 concurrent x 0.5 s = 200 rps, the rest 502
        (0.0, 0.0, 0.0, 0.0, 0.0),
    ],
)
def test_lambda_serves_up_to_its_concurrency_limit_and_throttles_the_rest(demand, served, throttled, concurrency, wanted):
    _, out = step(PlaneState(), config(), second(demand_rps=demand))
    assert (out.lambda_served, out.lambda_throttled) == pytest.approx((served, throttled))
    assert (out.lambda_concurrency, out.lambda_concurrency_wanted) == pytest.approx((concurrency, wanted))
    assert out.errors_5xx == pytest.approx(throttled)


def test_lambda_scales_by_at_most_the_burst_over_the_last_ten_seconds():
    cfg = config(concurrency_limit=10_000, request_secs=1.0, burst_per_10s=1000)
    inputs = [second(t, demand_rps=3000.0) for t in range(3)]
    _, outs = run(cfg, inputs)
    assert [o.lambda_concurrency for o in outs] == [1000.0, 2000.0, 3000.0]
    assert [o.lambda_throttled for o in outs] == [2000.0, 1000.0, 0.0]


def test_lambda_keeps_its_burst_headroom_for_ten_seconds_only():
    cfg = config(concurrency_limit=10_000, request_secs=1.0, burst_per_10s=1000)
    inputs = [second(0, demand_rps=1000.0)]
    inputs += [second(t, demand_rps=0.0) for t in range(1, 10)]
    inputs += [second(10, demand_rps=2500.0), second(11, demand_rps=2500.0)]
    _, outs = run(cfg, inputs)
    assert outs[10].lambda_concurrency == 2000.0  # 1,000 seen at t=0, within the last 10 s
    assert outs[11].lambda_concurrency == 2500.0


def test_lambda_burst_window_forgets_after_ten_seconds():
    cfg = config(concurrency_limit=10_000, request_secs=1.0, burst_per_10s=1000)
    inputs = [second(0, demand_rps=1000.0)] + [second(t, demand_rps=0.0) for t in range(1, 11)]
    inputs.append(second(11, demand_rps=2500.0))
    _, outs = run(cfg, inputs)
    assert outs[-1].lambda_concurrency == 1000.0


@pytest.mark.parametrize(
    "to_ecs, healthy, served, overloaded, no_target",
    [
        (100.0, 1, 100.0, 0.0, 0.0),
        (150.0, 1, 150.0, 0.0, 0.0),
        (400.0, 2, 300.0, 100.0, 0.0),  # 2 x 150 rps, the rest other 5xx
        (400.0, 0, 0.0, 0.0, 400.0),  # no healthy target: 503
        (0.0, 0, 0.0, 0.0, 0.0),
    ],
)
def test_ecs_serves_healthy_tasks_times_capacity(to_ecs, healthy, served, overloaded, no_target):
    _, out = step(PlaneState(), config(), second(demand_rps=to_ecs, lambda_weight=0, ecs_weight=1, ecs_healthy=healthy))
    assert (out.ecs_served, out.ecs_overloaded, out.ecs_no_target) == pytest.approx((served, overloaded, no_target))
    assert_accounts(out)


def test_step_leaves_the_state_it_was_given_alone():
    cfg = config(sticky_share=0.3)
    state, _ = step(PlaneState(), cfg, second(0))
    before = (state.cohorts, state.recent_lambda_concurrency)
    step(state, cfg, second(1, lambda_weight=0, ecs_weight=1))
    assert (state.cohorts, state.recent_lambda_concurrency) == before


def test_every_second_accounts_for_all_of_the_demand_whatever_the_inputs():
    rng = random.Random(7)
    for trial in range(30):
        cfg = config(
            sticky_share=rng.choice([0.0, 0.3, 1.0, rng.random()]),
            session_secs=rng.choice([1.0, 30.0, 300.0]),
            refresh_cookie=rng.random() < 0.5,
            concurrency_limit=rng.choice([1, 100, 1000]),
            burst_per_10s=rng.choice([1, 500, 1000]),
            task_capacity_rps=rng.choice([1.0, 150.0]),
        )
        state = PlaneState()
        stickiness = rng.choice([0, 5, 300])
        for t in range(120):
            if rng.random() < 0.1:
                stickiness = rng.choice([0, 5, 300])
            inp = SecondIn(
                t=t,
                demand_rps=rng.choice([0.0, rng.uniform(0, 2000)]),
                lambda_weight=rng.choice([0, 0, 1, 3, 999]),
                ecs_weight=rng.choice([0, 1, 1, 999]),
                stickiness_secs=stickiness,
                ecs_healthy=rng.choice([0, 1, 2, 8]),
            )
            state, out = step(state, cfg, inp)
            assert_accounts(out)
            assert sum(c.share for c in state.cohorts) <= 1.0 + 1e-9, (trial, t)
            assert out.lambda_concurrency <= cfg.concurrency_limit + 1e-9


def test_negative_demand_or_weights_are_refused():
    with pytest.raises(ValueError):
        step(PlaneState(), config(), second(demand_rps=-1.0))
    with pytest.raises(ValueError):
        step(PlaneState(), config(), second(lambda_weight=-1))


def test_the_config_comes_from_the_scenario():
    s = load(LIBRARY / "spike.json")
    cfg = PlaneConfig.from_scenario(s)
    assert cfg == PlaneConfig(
        request_secs=0.5,
        sticky_share=0.3,
        session_secs=60.0,
        refresh_cookie=True,
        concurrency_limit=100,
        burst_per_10s=1000,
        task_capacity_rps=150.0,
    )


def test_the_spike_with_no_controller_loses_what_lambda_cannot_carry():
    s = load(LIBRARY / "spike.json")
    cfg = PlaneConfig.from_scenario(s)
    state, errors, demand = PlaneState(), 0.0, 0.0
    for t in range(int(s.duration_secs)):
        state, out = step(state, cfg, SecondIn(t, s.demand_at(t), 1, 0, s.listener.stickiness_secs, 0))
        errors += out.errors_5xx
        demand += out.demand
    # 500 rps for 480 s against 200 rps of Lambda capacity: 300 x 480 throttled, nothing else.
    assert errors == pytest.approx(300 * 480, rel=1e-3)
