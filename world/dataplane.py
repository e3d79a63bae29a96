"""The data plane, one world second at a time: demand split by the weights, served or failed.

Requests are a fluid (requests/s as floats). Each second `step` takes the listener's weights as
the controller really wrote them, the stickiness setting and the ECS target group's healthy
count, and says where the demand went and what became of it:

- **Split.** The non-sticky share of the demand splits by the current weights. Sticky clients
  are cohorts, each bound to a target group: every second each cohort loses 1/session_secs of
  its share (sessions end, so session lengths are exponential with mean session_secs) and a new
  cohort of the freed share is bound by the current weights. A bound cohort keeps going to its
  target group even when that group's weight is 0: "When the load balancer receives a request
  that matches a rule with target group stickiness enabled and contains the cookie, the request is
  routed to the target group specified in the cookie ... Requests that do not contain the
  stickiness cookies are routed based on the weight of each target group" (ALB guide, forward
  actions, https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-action-types.html#forward-actions);
  "Stickiness takes precedence over adjusting Weight", with 503s while the sticky group has no
  healthy target (https://repost.aws/questions/QUugYm4uzWSI2af5mnmMjlZQ/alb-to-automatically-redirect-traffic).
  With `refresh_cookie` (the default, the cautious case) a cohort stays bound for its whole
  session; without it, a cohort bound `stickiness_secs` ago or more is bound again by the current
  weights (its cookie expired). Stickiness off: everyone splits by the weights.
- **Lambda.** Concurrency wanted = rate x request_secs (Little's law), capped by the concurrency
  limit and by the scaling rate: at most `burst_per_10s` (1,000) environments more than the
  highest concurrency of the previous 10 s ("1,000 execution environment instances every 10
  seconds", https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html). Requests above
  the cap are throttled, and the ALB answers them with HTTP 502 ("HTTP 502: Bad gateway ... The
  target is a Lambda function that returned an error or the function was throttled by the Lambda
  service", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html).
- **ECS.** Healthy tasks x task capacity is served; above it, other 5xx. No healthy target: every
  request weighted to ECS gets HTTP 503 (same page: "HTTP 503: Service unavailable. The target
  groups for the load balancer have no registered targets"; the world registers a task's target
  only once it is healthy), as do requests when both weights are 0.

Simplification: a target group at weight 0 whose sticky cohorts together hold less than
`min_group_share` of the sticky demand loses them (their sessions are counted as ended and the
share is bound again by the weights), so that its sticky traffic ends instead of decaying forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from world.scenario import Scenario

LAMBDA = "lambda"
ECS = "ecs"
_BURST_WINDOW_SECS = 10


@dataclass(frozen=True)
class PlaneConfig:
    request_secs: float
    sticky_share: float
    session_secs: float
    refresh_cookie: bool
    concurrency_limit: int
    burst_per_10s: int
    task_capacity_rps: float
    min_group_share: float = 1e-3

    @classmethod
    def from_scenario(cls, s: Scenario) -> PlaneConfig:
        return cls(
            request_secs=s.request_secs,
            sticky_share=s.clients.sticky_share,
            session_secs=s.clients.session_secs,
            refresh_cookie=s.clients.refresh_cookie,
            concurrency_limit=s.lambda_.concurrency_limit,
            burst_per_10s=s.lambda_.burst_per_10s,
            task_capacity_rps=s.ecs.task_capacity_rps,
        )


@dataclass(frozen=True, slots=True)
class Cohort:
    """Sticky clients bound to one target group at one second, as a share of the sticky demand."""

    group: str  # LAMBDA or ECS
    share: float
    bound_at: int


@dataclass
class PlaneState:
    """What the data plane remembers from one second to the next."""

    cohorts: tuple[Cohort, ...] = ()
    recent_lambda_concurrency: tuple[float, ...] = field(default=())  # served, the last 10 s, oldest first

    def sticky_share(self, group: str) -> float:
        """The share of the sticky demand bound to `group`."""
        return sum(c.share for c in self.cohorts if c.group == group)


@dataclass(frozen=True)
class SecondIn:
    t: int
    demand_rps: float
    lambda_weight: int
    ecs_weight: int
    stickiness_secs: int  # 0: off
    ecs_healthy: int


@dataclass(frozen=True)
class SecondOut:
    t: int
    demand: float
    to_lambda: float  # routed to the Lambda target group
    to_ecs: float  # routed to the ECS target group
    lambda_served: float
    lambda_throttled: float  # the ALB answers 502
    lambda_concurrency: float  # served
    lambda_concurrency_wanted: float
    ecs_served: float
    ecs_no_target: float  # 503: routed to ECS with 0 healthy targets, or not routed (`unrouted`)
    ecs_overloaded: float  # other 5xx: above healthy x task capacity
    unrouted: float = 0.0  # both weights 0 (part of ecs_no_target); reaches no target group

    @property
    def served(self) -> float:
        return self.lambda_served + self.ecs_served

    @property
    def errors_5xx(self) -> float:
        return self.lambda_throttled + self.ecs_no_target + self.ecs_overloaded


def _split(amount: float, lambda_weight: int, ecs_weight: int) -> tuple[float, float, float]:
    """(to Lambda, to ECS, unrouted) of `amount` by the weights."""
    total = lambda_weight + ecs_weight
    if total <= 0:
        return 0.0, 0.0, amount
    to_lambda = amount * lambda_weight / total
    return to_lambda, amount - to_lambda, 0.0


def _bind(cfg: PlaneConfig, state: PlaneState, inp: SecondIn) -> tuple[tuple[Cohort, ...], float]:
    """This second's cohorts, and the sticky share no group could take (both weights 0)."""
    keep = 1.0 - 1.0 / cfg.session_secs if cfg.session_secs > 1 else 0.0
    shares: dict[tuple[str, int], float] = {}
    totals = {LAMBDA: 0.0, ECS: 0.0}
    for c in state.cohorts:
        if not cfg.refresh_cookie and inp.t - c.bound_at >= inp.stickiness_secs:
            continue  # the cookie expired: these clients are bound again below
        key = (c.group, c.bound_at)
        shares[key] = shares.get(key, 0.0) + c.share * keep
        totals[c.group] += c.share * keep
    weights = {LAMBDA: inp.lambda_weight, ECS: inp.ecs_weight}
    for group in (LAMBDA, ECS):
        if weights[group] == 0 and 0 < totals[group] < cfg.min_group_share:
            shares = {k: v for k, v in shares.items() if k[0] != group}
            totals[group] = 0.0
    free = max(0.0, 1.0 - totals[LAMBDA] - totals[ECS])
    to_lambda, to_ecs, unbound = _split(free, inp.lambda_weight, inp.ecs_weight)
    for group, share in ((LAMBDA, to_lambda), (ECS, to_ecs)):
        if share <= 0:
            continue
        key = (group, inp.t)
        if cfg.refresh_cookie:
            # Cohorts that never expire shrink alike: one per group is exact.
            key = next((k for k in shares if k[0] == group), key)
        shares[key] = shares.get(key, 0.0) + share
    return tuple(Cohort(g, share, b) for (g, b), share in shares.items()), unbound


def step(state: PlaneState, cfg: PlaneConfig, inp: SecondIn) -> tuple[PlaneState, SecondOut]:
    """One world second: where the demand goes and what becomes of it. `state` is not changed."""
    if inp.demand_rps < 0:
        raise ValueError(f"demand must be >= 0, got {inp.demand_rps}")
    if inp.lambda_weight < 0 or inp.ecs_weight < 0:
        raise ValueError(f"weights must be >= 0, got {inp.lambda_weight}/{inp.ecs_weight}")
    demand = float(inp.demand_rps)
    sticky = cfg.sticky_share if inp.stickiness_secs > 0 else 0.0
    if sticky > 0:
        cohorts, unbound = _bind(cfg, state, inp)
    else:
        cohorts, unbound = (), 0.0

    sticky_rps = demand * sticky
    to_lambda, to_ecs, unrouted = _split(demand - sticky_rps, inp.lambda_weight, inp.ecs_weight)
    to_lambda += sticky_rps * sum(c.share for c in cohorts if c.group == LAMBDA)
    to_ecs += sticky_rps * sum(c.share for c in cohorts if c.group == ECS)
    unrouted += sticky_rps * unbound

    # Lambda: Little's law, capped by the limit and the scaling rate.
    wanted = to_lambda * cfg.request_secs
    recent = state.recent_lambda_concurrency
    cap = min(float(cfg.concurrency_limit), max(recent, default=0.0) + cfg.burst_per_10s)
    concurrency = min(wanted, cap)
    lambda_served = concurrency / cfg.request_secs if wanted > 0 else 0.0
    lambda_served = min(lambda_served, to_lambda)
    lambda_throttled = to_lambda - lambda_served

    # ECS: healthy tasks x capacity; nobody healthy: 503.
    if inp.ecs_healthy > 0:
        ecs_served = min(to_ecs, inp.ecs_healthy * cfg.task_capacity_rps)
        ecs_overloaded = to_ecs - ecs_served
        ecs_no_target = 0.0
    else:
        ecs_served = ecs_overloaded = 0.0
        ecs_no_target = to_ecs

    out = SecondOut(
        t=inp.t,
        demand=demand,
        to_lambda=to_lambda,
        to_ecs=to_ecs,
        lambda_served=lambda_served,
        lambda_throttled=lambda_throttled,
        lambda_concurrency=concurrency,
        lambda_concurrency_wanted=wanted,
        ecs_served=ecs_served,
        ecs_no_target=ecs_no_target + unrouted,
        ecs_overloaded=ecs_overloaded,
        unrouted=unrouted,
    )
    new_state = PlaneState(
        cohorts=cohorts,
        recent_lambda_concurrency=(recent + (concurrency,))[-_BURST_WINDOW_SECS:],
    )
    return new_state, out
