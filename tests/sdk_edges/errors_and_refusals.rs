//! AWS errors (throttled, denied, missing) and set-ups refused before any write.

use crate::fake::*;
use crate::world::*;
use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::types::Service;
use aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use spillover::Error;
use spillover::aws::Aws;
use spillover::controller::Controller;
use spillover::report::Summary;

#[tokio::test]
async fn a_listener_without_the_ecs_target_group_fails_before_any_write() {
    let fake = Fake::new(World::idle().with_alarm(StateValue::Alarm));
    let controller = fake.controller(&[(
        "SPILLOVER_ECS_TARGET_GROUP_ARN",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/elsewhere/9",
    )]);
    let summary = run(&controller).await;
    assert!(
        matches!(summary.error, Some(Error::Topology(_))),
        "{:?}",
        summary.error
    );
    assert_eq!(summary.exit_code(), 2);
    assert!(fake.writes().is_empty());
}

/// The adapters with `ecs` for the ECS client, and the fake's alarms, listener and target
/// health for the rest.
fn aws_with_ecs(fake: &Fake, ecs: aws_sdk_ecs::Client) -> Aws {
    let controller = fake.controller(&[]);
    Aws::new(
        &controller.config,
        mock_client!(
            aws_sdk_cloudwatch,
            RuleMode::MatchAny,
            [&fake.describe_alarms]
        ),
        ecs,
        mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&fake.describe_listeners, &fake.target_health]
        ),
        fake.autoscaling(),
    )
}

#[tokio::test]
async fn throttled_calls_are_retried_by_the_sdk() {
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let describe_services = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_status(400, Some(throttled.into()))
        .times(2)
        .output(|| {
            DescribeServicesOutput::builder()
                .services(
                    Service::builder()
                        .service_name("web-app")
                        .status("ACTIVE")
                        .desired_count(3)
                        .build(),
                )
                .build()
        })
        .build();
    let fake = Fake::new(World::idle());
    let ecs = mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        [&describe_services, &fake.list_tasks]
    );
    let aws = aws_with_ecs(&fake, ecs);
    assert_eq!(
        aws.ecs
            .desired_count()
            .await
            .expect("retried until it succeeded"),
        3
    );
    assert_eq!(describe_services.num_calls(), 3);
    assert_eq!(
        aws.calls.count().reads,
        1,
        "one logical call, however many attempts"
    );
    assert_eq!(
        aws.calls.count().retried,
        2,
        "the two attempts after the first"
    );
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_a_retryable_error() {
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let describe_services = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_status(400, Some(throttled.into()))
        .times(5)
        .build();
    let fake = Fake::new(World::idle());
    let aws = aws_with_ecs(
        &fake,
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe_services]),
    );
    let err = aws.ecs.desired_count().await.expect_err("gave up");
    assert!(err.is_retryable(), "{err}");
    assert!(err.is_transient(), "a wait counts it as not yet: {err}");
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    assert_eq!(
        describe_services.num_calls(),
        3,
        "the SDK's standard retry makes 3 attempts"
    );
}

#[tokio::test]
async fn access_denied_is_not_transient_and_not_retried() {
    let describe_services = denied_once!(
        aws_sdk_ecs::Client::describe_services,
        "ecs:DescribeServices"
    );
    let fake = Fake::new(World::idle());
    let aws = aws_with_ecs(
        &fake,
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe_services]),
    );
    let err = aws.ecs.desired_count().await.expect_err("denied");
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    assert_eq!(describe_services.num_calls(), 1);
    assert_eq!(aws.calls.count().retried, 0);
}

/// A run refused for its configuration: exit 2, not retryable, nothing written.
fn assert_refused(fake: &Fake, summary: &Summary, names: &str) {
    match &summary.error {
        Some(e @ Error::Topology(msg)) => {
            assert!(msg.contains(names), "{msg} should name {names}");
            assert!(!e.is_retryable(), "{e}");
        }
        other => panic!("expected a Topology error naming {names}, got {other:?}"),
    }
    assert_eq!(summary.exit_code(), 2);
    assert!(fake.writes().is_empty(), "wrote {:?}", fake.writes());
    assert_eq!(fake.update_service.num_calls(), 0);
}

#[tokio::test]
async fn target_groups_of_swapped_types_are_refused_before_any_write() {
    let fake = Fake::new(World {
        target_types: (TargetTypeEnum::Ip, TargetTypeEnum::Lambda),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;
    assert_refused(
        &fake,
        &summary,
        "SPILLOVER_LAMBDA_TARGET_GROUP_ARN and SPILLOVER_ECS_TARGET_GROUP_ARN are swapped",
    );
}

#[tokio::test]
async fn the_target_group_types_are_read_once_per_process() {
    let fake = Fake::new(World::idle());
    let controller = fake.controller(&[]);
    let first = run(&controller).await;
    let second = run(&controller).await;
    assert!(first.error.is_none() && second.error.is_none());
    assert_eq!(
        fake.describe_target_groups.num_calls(),
        2,
        "one DescribeTargetGroups per target group, on the first run only"
    );
    assert_eq!(
        first.aws_calls.reads,
        second.aws_calls.reads + 2,
        "the second run reads what it read before the check existed"
    );
}

#[tokio::test]
async fn a_service_that_does_not_register_in_the_ecs_target_group_is_refused() {
    let fake = Fake::new(World {
        service_target_groups: vec![OTHER_TG],
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;
    assert_refused(&fake, &summary, "not in SPILLOVER_ECS_TARGET_GROUP_ARN");
}

#[tokio::test]
async fn a_default_rule_is_refused_before_the_scale_out() {
    let fake = Fake::new(World {
        default_rule: true,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let controller =
        fake.controller(&[("SPILLOVER_LISTENER_ARN", ""), ("SPILLOVER_RULE_ARN", RULE)]);
    let summary = run(&controller).await;
    assert_refused(&fake, &summary, "set SPILLOVER_LISTENER_ARN");
    assert_eq!(fake.modify_rule.num_calls(), 0);
}

#[tokio::test]
async fn a_listener_or_cluster_that_does_not_exist_is_a_config_error_not_a_retry() {
    // The error bodies as ELBv2 (query protocol, XML) and ECS (JSON) send them.
    let no_listener = "<ErrorResponse><Error><Type>Sender</Type><Code>ListenerNotFound</Code>\
        <Message>The specified listener does not exist.</Message></Error><RequestId>1</RequestId></ErrorResponse>";
    let describe_listeners = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners)
        .sequence()
        .http_status(400, Some(no_listener.into()))
        .build();
    let fake = Fake::new(World::idle().with_alarm(StateValue::Alarm));
    let config = fake.controller(&[]).config;
    let elb = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        [
            &describe_listeners,
            &fake.target_health,
            &fake.describe_target_groups
        ]
    );
    let ecs = mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        [
            &fake.describe_services,
            &fake.list_tasks,
            &fake.describe_tasks,
            &fake.list_tags
        ]
    );
    let cloudwatch = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        [&fake.describe_alarms]
    );
    let controller = Controller::new(
        config.clone(),
        Aws::new(&config, cloudwatch.clone(), ecs, elb, fake.autoscaling()),
    );
    assert_refused(
        &fake,
        &run(&controller).await,
        "check SPILLOVER_LISTENER_ARN",
    );

    let no_cluster = r#"{"__type":"ClusterNotFoundException","message":"Cluster not found."}"#;
    let describe_services = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .http_status(400, Some(no_cluster.into()))
        .build();
    let list_tasks = mock!(aws_sdk_ecs::Client::list_tasks)
        .sequence()
        .http_status(400, Some(no_cluster.into()))
        .build();
    let elb = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        [
            &fake.describe_listeners,
            &fake.target_health,
            &fake.describe_target_groups
        ]
    );
    let ecs = mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        [&describe_services, &list_tasks]
    );
    let controller = Controller::new(
        config.clone(),
        Aws::new(&config, cloudwatch, ecs, elb, fake.autoscaling()),
    );
    assert_refused(&fake, &run(&controller).await, "check SPILLOVER_CLUSTER");
}
