"""The local AWS world for spillover, on moto.

`python -m world` is the entry point (see `world/README.md`). Each part has its own file:
`patches` (moto fixed where it lies about AWS), `topology` (the seeded resources),
`scheduler` (the ECS scheduler and health checks moto does not have), `timeline` (what the
world observes), `cli` (the command line); and for the closed loop: `scenario` (the
documented scenario format), `dataplane` (traffic, Lambda and ECS serving it), `alarms`
(CloudWatch's alarm evaluation), `events` (EventBridge's events), `lambda_runtime` (a
Lambda runtime API that runs a controller one invocation at a time), `seed_controller`
(the proof of concept the project replaces, as a peer), `loop` (the closed loop itself),
`summary`, `plot` and `bench`.
"""
