"""Names and constants of the seeded world, and the world's two kinds of error."""

from __future__ import annotations


REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account for any dummy credentials
ACCESS_KEY = "testing"
SECRET_KEY = "testing"

CLUSTER = "web-app"
SERVICE = "web-app"
SERVICE_GROUP = f"service:{SERVICE}"
CONTAINER = "app"
APP_PORT = 8080
ALARM_HIGH = "web-app-concurrency-high"
ALARM_PERCENT = "web-app-concurrency-percent"
ALARM_THROTTLES = "web-app-throttles"
ALARM_OTHER = "billing-estimate-high"
ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")

# Why a Fargate task stops before RUNNING, in ECS's words (stopped tasks errors,
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html).
START_FAILURES = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to "
    "resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/web-app:latest: not found",
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
    "retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 "
    "time(s): RequestError: send request failed",
)

WORLD_JSON = "world.json"
TIMELINE = "timeline.jsonl"
API_LOG = "api.jsonl"


class UsageError(Exception):
    """Bad input from the caller: exit status 2."""


class WorldError(Exception):
    """The world is not there or an AWS call failed: exit status 1."""

