"""The seed's proof of concept (`seeds/001_c1405e9dfd709151.txt`), ported as a peer controller.

`lambda_handler` is the seed's code, statement for statement, with its prints (to stdout, the
function's log) and its Portuguese comments. What differs, and why:

- Configuration comes from the environment instead of the `'xxxx'` placeholders:
  `SEED_CLUSTER`, `SEED_SERVICE`, `SEED_LISTENER_ARN`, `SEED_LAMBDA_TARGET_GROUP_ARN`,
  `SEED_ECS_TARGET_GROUP_ARN`. The seed's waiting loop calls `list_tasks` and
  `describe_tasks` on a hard-coded `'AlbECSCluster'`, the cluster its author created; here it
  is the configured cluster. The loop still lists *every* task of the cluster, as the seed
  does, not only the service's.
- The boto3 clients are built once per execution environment (the seed builds them at module
  import, i.e. in Lambda's init phase; here `configure()` runs in the init phase of `main`),
  with `user_agent_extra="spillover-world-seed"` so the world can count the seed's AWS calls.
  `AWS_ENDPOINT_URL`, `AWS_REGION` and the credentials come from the environment.
- The one change to the logic: the seed's wait for a RUNNING container is a busy loop with no
  sleep; here each pass that finds no RUNNING container sleeps `SEED_POLL_SLEEP_SECS` (default
  1; the world passes 1 AWS second divided by its speed). Without it the port would flood moto
  with calls no real network round-trip would allow. The loop still has no deadline: the
  function timeout ends it, as in the seed.

`python -m world.seed_controller` runs it as a Lambda custom runtime: a loop over the runtime
API in `AWS_LAMBDA_RUNTIME_API` ("Using the Lambda runtime API for custom runtimes",
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html), posting the handler's return
value, or the exception as `{"errorMessage", "errorType", "stackTrace"}`; a failure to
configure is posted to `/init/error`. Only the standard library (urllib) talks to the API.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request
from typing import Any

USER_AGENT_EXTRA = "spillover-world-seed"
ENV_VARS = (
    "SEED_CLUSTER",
    "SEED_SERVICE",
    "SEED_LISTENER_ARN",
    "SEED_LAMBDA_TARGET_GROUP_ARN",
    "SEED_ECS_TARGET_GROUP_ARN",
)

# The seed's module-level names, filled in by configure().
ECSclient: Any = None
ELBclient: Any = None
cluster = "xxxx"
service = "xxxx"
listenerArn = "xxxx"
port = 80
targetGroupLambda = "xxxx"
targetGroupECS = "xxxx"
POLL_SLEEP_SECS = 1.0


class ConfigError(Exception):
    """A SEED_* variable is missing or invalid."""


def configure(env: dict[str, str] | None = None) -> None:
    """Reads SEED_* from the environment and builds the two boto3 clients."""
    global ECSclient, ELBclient, cluster, service, listenerArn
    global targetGroupLambda, targetGroupECS, POLL_SLEEP_SECS
    env = dict(os.environ if env is None else env)
    missing = [name for name in ENV_VARS if not env.get(name)]
    if missing:
        raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
    try:
        POLL_SLEEP_SECS = float(env.get("SEED_POLL_SLEEP_SECS", "1"))
    except ValueError:
        raise ConfigError(
            f"SEED_POLL_SLEEP_SECS must be a number of seconds, got {env['SEED_POLL_SLEEP_SECS']!r}"
        ) from None
    if POLL_SLEEP_SECS < 0:
        raise ConfigError(f"SEED_POLL_SLEEP_SECS must be 0 or more, got {POLL_SLEEP_SECS}")
    cluster = env["SEED_CLUSTER"]
    service = env["SEED_SERVICE"]
    listenerArn = env["SEED_LISTENER_ARN"]
    targetGroupLambda = env["SEED_LAMBDA_TARGET_GROUP_ARN"]
    targetGroupECS = env["SEED_ECS_TARGET_GROUP_ARN"]

    import boto3
    from botocore.config import Config

    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    config = Config(user_agent_extra=USER_AGENT_EXTRA)
    ECSclient = boto3.client("ecs", region_name=region, config=config)
    ELBclient = boto3.client("elbv2", region_name=region, config=config)  # Criando cliente para o Elastic Load Balancing


def lambda_handler(event, context):  # noqa: ANN001, ANN201, C901 - the seed's own code
    previousState = event['detail']['previousState']['value']
    state = event['detail']['state']['value']

    print(state)

    if state == 'ALARM':

        # provisiono uma instancia do ecs fargate para apoiar o app lambda
        response = ECSclient.update_service(cluster=cluster, service=service, desiredCount=1)
        print(response)

        # Espero o Ecs ligar
        container_RUNNING = False
        while container_RUNNING == False:  # noqa: E712

            # seed: cluster='AlbECSCluster'
            response = ECSclient.list_tasks(cluster=cluster)
            taskarns = response['taskArns']
            if len(taskarns) > 0:
                describe_tasks_response = ECSclient.describe_tasks(cluster=cluster, tasks=taskarns)

                for t in describe_tasks_response['tasks']:
                    for c in t['containers']:
                        if c['lastStatus'] == 'RUNNING':
                            print('container RUNNING')
                            container_RUNNING = True

                if container_RUNNING:
                    # Definindo as novas regras para o listener
                    new_rules = [
                        {
                            'Type': 'forward',
                            'ForwardConfig': {
                                'TargetGroups': [
                                    {
                                        'TargetGroupArn': targetGroupLambda,
                                        'Weight': 0
                                    },
                                    {
                                        'TargetGroupArn': targetGroupECS,
                                        'Weight': 1
                                    }]}
                        }
                    ]

                    # Modificando as regras do listener do ALB
                    response = ELBclient.modify_listener(ListenerArn=listenerArn, DefaultActions=new_rules)
                    print(response)

            # The port's one change: the seed spins here with no sleep.
            if not container_RUNNING:
                time.sleep(POLL_SLEEP_SECS)

    if state == 'OK' and previousState != 'OK':

        # Definindo as novas regras para o listener
        new_rules = [
            {
                'Type': 'forward',
                'ForwardConfig': {
                    'TargetGroups': [
                        {
                            'TargetGroupArn': targetGroupLambda,
                            'Weight': 1
                        },
                        {
                            'TargetGroupArn': targetGroupECS,
                            'Weight': 0
                        }]}
            }
        ]

        # Modificando as regras do listener do ALB
        response = ELBclient.modify_listener(ListenerArn=listenerArn, DefaultActions=new_rules)
        print(response)

        # Removo a instancia do ecs
        response = ECSclient.update_service(cluster=cluster, service=service, desiredCount=0)
        print(response)


# -- a minimal Lambda custom runtime ------------------------------------------------


class Context:
    """The parts of Python's Lambda context object a handler might read."""

    def __init__(self, headers: Any) -> None:
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error_body(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__),
    }


def _post(url: str, payload: Any, error_type: str | None = None) -> None:
    headers = {"Content-Type": "application/json"}
    if error_type is not None:
        headers["Lambda-Runtime-Function-Error-Type"] = error_type
    data = json.dumps(payload, default=str).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def main() -> int:
    """The runtime loop: init, then next → handler → response/error, until the API goes away."""
    sys.stdout.reconfigure(line_buffering=True)  # the log file must not lag behind the calls
    base = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
    try:
        configure()
    except Exception as exc:
        print(f"init failed: {exc}", file=sys.stderr)
        _post(f"{base}/init/error", _error_body(exc), f"Runtime.{type(exc).__name__}")
        return 1
    while True:
        try:
            # No timeout: the long poll lasts until the next event.
            with urllib.request.urlopen(f"{base}/invocation/next") as response:
                event = json.loads(response.read())
                headers = response.headers
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            print(f"runtime API gone: {exc}", file=sys.stderr)
            return 1
        request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        try:
            result = lambda_handler(event, Context(headers))
        except Exception as exc:
            traceback.print_exc()
            url, payload, error_type = (
                f"{base}/invocation/{request_id}/error", _error_body(exc), "Unhandled")
        else:
            url, payload, error_type = f"{base}/invocation/{request_id}/response", result, None
        try:
            _post(url, payload, error_type)
        except urllib.error.HTTPError as exc:  # e.g. 400: the invocation is no longer running
            print(f"runtime API refused the result of {request_id}: {exc}", file=sys.stderr)
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            print(f"runtime API gone: {exc}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
