//! The CloudWatch SDK (Smithy RPC v2 CBOR) against the local world: the answers and the
//! errors of the calls spillover makes, decoded by the SDK's own deserializers.

mod support;

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StateValue,
};
use support::World;

const HIGH: &str = "web-app-concurrency-high";
const PERCENT: &str = "web-app-concurrency-percent";

fn client(world: &World) -> aws_sdk_cloudwatch::Client {
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(world.env["AWS_REGION"].clone()))
        .endpoint_url(&world.env["AWS_ENDPOINT_URL"])
        .credentials_provider(Credentials::new("testing", "testing", None, None, "world"))
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

#[tokio::test]
async fn the_sdk_reads_the_alarms_and_metrics_the_world_answers_in_cbor() {
    let world = World::start(&[]);
    let cw = client(&world);

    let out = cw
        .describe_alarms()
        .alarm_names(HIGH)
        .alarm_names(PERCENT)
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .send()
        .await
        .expect("DescribeAlarms over CBOR");
    let alarm = |name: &str| {
        out.metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in {out:?}"))
            .clone()
    };
    let high = alarm(HIGH);
    assert_eq!(high.state_value(), Some(&StateValue::Ok));
    assert_eq!(high.period(), Some(60));
    let transitioned = high
        .state_transitioned_timestamp()
        .expect("StateTransitionedTimestamp, a CBOR tag 1 float");
    let age = SystemTime::now()
        .duration_since(SystemTime::try_from(*transitioned).unwrap())
        .expect("not in the future");
    assert!(age < Duration::from_secs(120), "{transitioned:?}");
    // The metric math alarm's queries, as `spillover check` reads them.
    let percent = alarm(PERCENT);
    assert_eq!(percent.threshold(), Some(90.0));
    let queries = percent.metrics();
    assert_eq!(queries.len(), 2, "{queries:?}");
    assert_eq!(queries[0].expression(), Some("100 * m1 / 1000"));
    let stat = queries[1].metric_stat().expect("the MetricStat query");
    assert_eq!(stat.period(), Some(60));
    assert_eq!(stat.stat(), Some("Maximum"));
    assert_eq!(
        stat.metric().and_then(|m| m.metric_name()),
        Some("ConcurrentExecutions")
    );

    let now = SystemTime::now();
    let dimension = Dimension::builder()
        .name("TargetGroup")
        .value("targetgroup/cbor/1")
        .build();
    cw.put_metric_data()
        .namespace("AWS/ApplicationELB")
        .metric_data(
            MetricDatum::builder()
                .metric_name("RequestCount")
                .dimensions(dimension.clone())
                .timestamp(DateTime::from(now - Duration::from_secs(30)))
                .value(3.5)
                .build(),
        )
        .send()
        .await
        .expect("PutMetricData over CBOR");
    let data = cw
        .get_metric_data()
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("requests")
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("AWS/ApplicationELB")
                                .metric_name("RequestCount")
                                .dimensions(dimension)
                                .build(),
                        )
                        .period(60)
                        .stat("Sum")
                        .build(),
                )
                .build(),
        )
        .start_time(DateTime::from(now - Duration::from_secs(600)))
        .end_time(DateTime::from(now + Duration::from_secs(60)))
        .send()
        .await
        .expect("GetMetricData over CBOR");
    let result = &data.metric_data_results()[0];
    assert_eq!(result.id(), Some("requests"));
    assert_eq!(result.values(), [3.5]);
    assert_eq!(result.timestamps().len(), 1);

    cw.set_alarm_state()
        .alarm_name(HIGH)
        .state_value(StateValue::Alarm)
        .state_reason("set over CBOR")
        .send()
        .await
        .expect("SetAlarmState over CBOR");
    let after = cw.describe_alarms().alarm_names(HIGH).send().await.unwrap();
    assert_eq!(
        after.metric_alarms()[0].state_value(),
        Some(&StateValue::Alarm)
    );
}

#[tokio::test]
async fn the_sdk_reads_the_worlds_cbor_errors_as_cloudwatch_errors() {
    let world = World::start(&[]);
    let cw = client(&world);

    let err = cw
        .set_alarm_state()
        .alarm_name("no-such-alarm")
        .state_value(StateValue::Alarm)
        .state_reason("x")
        .send()
        .await
        .expect_err("no such alarm");
    let service = err
        .as_service_error()
        .expect("a service error, not a decoding one");
    assert!(service.is_resource_not_found(), "{service:?}");
    assert_eq!(service.code(), Some("ResourceNotFound"));

    let err = cw
        .put_metric_alarm()
        .alarm_name("bad")
        .namespace("n")
        .metric_name("m")
        .extended_statistic("x50")
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect_err("an extended statistic that is not a percentile");
    let service = err
        .as_service_error()
        .expect("a service error, not a decoding one");
    assert_eq!(service.code(), Some("InvalidParameterValue"), "{service:?}");
    assert!(service.message().unwrap_or_default().contains("x50"));
}
