//! CloudWatch: the configured alarms' current state, what they watch (for `spillover
//! check`), and the ECS target group's `RequestCount`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, HistoryItemType, Metric, MetricDataQuery, MetricDataResult, MetricStat,
    ScanBy, StateValue,
};

use super::Calls;
use crate::decide::hold::{self, Transition};
use crate::decide::settled::Datapoint;
pub use crate::decide::sight::MetricRef;
use crate::decide::sight::{
    DEMAND_PERIODS, DemandData, MathQuery, Projection, Sight, projectable, reads_demand, sight,
};
use crate::error::{Error, Result};
use crate::observed::AlarmState;

pub struct Alarms {
    client: aws_sdk_cloudwatch::Client,
    names: Vec<String>,
    warm_names: Vec<String>,
    /// The `TargetGroup` dimension values of the Lambda and the ECS target groups.
    target_groups: (String, String),
    calls: Arc<Calls>,
}

/// A group of alarms combined: their state, when the most recent of them changed,
/// whether every one of them is blind to the split (see [`crate::decide::sight`]), and,
/// when each one that sees it can be carried to another split, how.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub state: AlarmState,
    pub changed_at: Option<SystemTime>,
    pub blind: bool,
    /// The alarms that see the split, when every one of them is projectable.
    pub projections: Option<Vec<Projection>>,
    /// How to read the demand, when every alarm is blind to the split and reads it.
    pub demands: Option<Vec<Demand>>,
    /// Each alarm: its name, when its state last changed, and how its metric is read.
    pub changes: Vec<Change>,
}

/// One alarm of a [`Reading`]: when its state last changed, and how to read its metric
/// when an ALARM of it can rest on no data ([`on_no_data`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub name: String,
    pub at: Option<SystemTime>,
    pub on_no_data: Option<Projection>,
}

impl Reading {
    /// How to read the alarms' metrics, when every one of them can be in ALARM on no data.
    pub fn silenceable(&self) -> Option<Vec<Projection>> {
        let all: Option<Vec<Projection>> =
            self.changes.iter().map(|c| c.on_no_data.clone()).collect();
        all.filter(|all| !all.is_empty())
    }
}

/// An alarm that reads the demand (see [`crate::decide::sight::reads_demand`]): the queries
/// that give its value, as `GetMetricData` takes them, and its threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    pub queries: Vec<MetricDataQuery>,
    pub threshold: f64,
}

/// The spill alarms and the warm alarms (when configured), from one `DescribeAlarms`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmReadings {
    pub spill: Reading,
    pub warm: Option<Reading>,
}

/// A configured alarm as `spillover check` sees it: what it watches and how it treats
/// missing data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmInfo {
    pub name: String,
    pub composite: bool,
    /// Its metric, or each `MetricStat` of its metric math.
    pub metrics: Vec<MetricRef>,
    /// `TreatMissingData`; CloudWatch's default is `missing`.
    pub treat_missing_data: Option<String>,
    /// How its reading carries to another split, when it can (see
    /// [`crate::decide::sight::projectable`]).
    pub projection: Option<Projection>,
    /// How to read the demand it measures, when it does.
    pub demand: Option<Demand>,
    /// The expressions of its metric math.
    pub expressions: Vec<String>,
    /// `EvaluationPeriods`, when CloudWatch gives it.
    pub evaluation_periods: Option<i32>,
}

fn metric_ref(namespace: Option<&str>, name: Option<&str>, dimensions: &[Dimension]) -> MetricRef {
    MetricRef {
        namespace: namespace.unwrap_or_default().to_string(),
        name: name.unwrap_or_default().to_string(),
        dimensions: dimensions
            .iter()
            .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
            .collect(),
    }
}

/// One alarm as CloudWatch describes it: what it watches, its state and when that changed.
struct Found {
    info: AlarmInfo,
    state: Option<StateValue>,
    /// When its state last changed (or, where CloudWatch does not say, was last updated).
    changed_at: Option<DateTime>,
}

impl Found {
    fn new(
        info: AlarmInfo,
        state: Option<&StateValue>,
        transitioned: Option<&DateTime>,
        updated: Option<&DateTime>,
    ) -> Self {
        Found {
            info,
            state: state.cloned(),
            changed_at: transitioned.or(updated).copied(),
        }
    }
}

/// The metrics a metric alarm reads: its single metric, or each `MetricStat` of its metric
/// math (expressions only combine those).
fn metrics_of(alarm: &aws_sdk_cloudwatch::types::MetricAlarm) -> Vec<MetricRef> {
    let single = alarm
        .metric_name()
        .map(|name| metric_ref(alarm.namespace(), Some(name), alarm.dimensions()));
    let math = alarm
        .metrics()
        .iter()
        .filter_map(|q| q.metric_stat()?.metric())
        .map(|m| metric_ref(m.namespace(), m.metric_name(), m.dimensions()));
    single.into_iter().chain(math).collect()
}

/// The queries that give a metric alarm's value: its metric math as it is, or its single
/// metric as one `MetricStat` query; kept when the alarm reads the demand.
fn demand_of(alarm: &aws_sdk_cloudwatch::types::MetricAlarm) -> Option<Demand> {
    let queries: Vec<MetricDataQuery> = match alarm.metric_name() {
        Some(name) => {
            let mut metric = Metric::builder()
                .set_namespace(alarm.namespace().map(String::from))
                .metric_name(name);
            for d in alarm.dimensions() {
                metric = metric.dimensions(d.clone());
            }
            vec![
                MetricDataQuery::builder()
                    .id("m")
                    .return_data(true)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric.build())
                            .set_period(alarm.period())
                            .set_stat(alarm.statistic().map(|s| s.as_str().to_string()))
                            .build(),
                    )
                    .build(),
            ]
        }
        None => alarm.metrics().to_vec(),
    };
    let described: Vec<MathQuery> = queries
        .iter()
        .map(|q| MathQuery {
            id: q.id().unwrap_or_default().to_string(),
            metric: q.metric_stat().map(|s| {
                let m = s.metric();
                (
                    metric_ref(
                        m.and_then(|m| m.namespace()),
                        m.and_then(|m| m.metric_name()),
                        m.map(|m| m.dimensions()).unwrap_or_default(),
                    ),
                    s.stat().unwrap_or_default().to_string(),
                )
            }),
            expression: q.expression().map(String::from),
            // CloudWatch's default is true.
            returned: q.return_data().unwrap_or(true),
        })
        .collect();
    let comparison = alarm.comparison_operator().map(|c| c.as_str());
    reads_demand(&described, comparison, alarm.threshold()).then(|| Demand {
        queries,
        threshold: alarm.threshold().unwrap_or_default(),
    })
}

impl Alarms {
    pub fn new(
        client: aws_sdk_cloudwatch::Client,
        names: Vec<String>,
        warm_names: Vec<String>,
        target_groups: (String, String),
        calls: Arc<Calls>,
    ) -> Self {
        Alarms {
            client,
            names,
            warm_names,
            target_groups,
            calls,
        }
    }

    /// The combined state of the spill alarms, metric or composite.
    pub async fn state(&self) -> Result<AlarmState> {
        let found = self.describe(&self.names).await?;
        Ok(self
            .combine(&found, &self.names, "SPILLOVER_ALARM_NAMES")?
            .state)
    }

    /// The spill alarms and the warm alarms, each group combined, in one call.
    pub async fn read(&self) -> Result<AlarmReadings> {
        let all: Vec<String> = self.names.iter().chain(&self.warm_names).cloned().collect();
        let found = self.describe(&all).await?;
        let warm = if self.warm_names.is_empty() {
            None
        } else {
            Some(self.combine(&found, &self.warm_names, "SPILLOVER_WARM_ALARM_NAMES")?)
        };
        Ok(AlarmReadings {
            spill: self.combine(&found, &self.names, "SPILLOVER_ALARM_NAMES")?,
            warm,
        })
    }

    /// The named alarms that exist, with what they watch (`DescribeAlarms`). A metric alarm
    /// names its metric either at the top level or in `Metrics` (metric math), each with a
    /// `MetricStat`: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricAlarm.html>.
    pub async fn describe_for_check(&self, names: &[String]) -> Result<Vec<AlarmInfo>> {
        let found = self.describe(names).await?;
        Ok(found.into_iter().map(|f| f.info).collect())
    }

    async fn describe(&self, names: &[String]) -> Result<Vec<Found>> {
        let mut found = Vec::new();
        // DescribeAlarms takes at most 100 names per call.
        for chunk in names.chunks(100) {
            found.extend(self.describe_chunk(chunk).await?);
        }
        Ok(found)
    }

    async fn describe_chunk(&self, names: &[String]) -> Result<Vec<Found>> {
        let mut found = Vec::new();
        let mut next = None;
        loop {
            self.calls.read();
            let out = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(names.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| Error::aws("cloudwatch:DescribeAlarms", e))?;
            let metric = out.metric_alarms().iter().map(|a| {
                let single = a
                    .metric_name()
                    .map(|name| metric_ref(a.namespace(), Some(name), a.dimensions()));
                let projection = single.and_then(|m| {
                    projectable(
                        &m,
                        a.statistic().map(|s| s.as_str()),
                        a.comparison_operator().map(|c| c.as_str()),
                        a.threshold(),
                    )
                });
                let info = AlarmInfo {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    composite: false,
                    metrics: metrics_of(a),
                    treat_missing_data: a.treat_missing_data().map(String::from),
                    projection,
                    demand: demand_of(a),
                    expressions: a
                        .metrics()
                        .iter()
                        .filter_map(|q| q.expression().map(String::from))
                        .collect(),
                    evaluation_periods: a.evaluation_periods(),
                };
                Found::new(
                    info,
                    a.state_value(),
                    a.state_transitioned_timestamp(),
                    a.state_updated_timestamp(),
                )
            });
            let composite = out.composite_alarms().iter().map(|a| {
                let info = AlarmInfo {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    composite: true,
                    ..AlarmInfo::default()
                };
                Found::new(
                    info,
                    a.state_value(),
                    a.state_transitioned_timestamp(),
                    a.state_updated_timestamp(),
                )
            });
            found.extend(metric.chain(composite));
            next = out.next_token().map(String::from);
            if next.is_none() {
                return Ok(found);
            }
        }
    }
}

impl Alarms {
    /// Folds the named alarms into one state, with the time the most recent of them
    /// changed and whether all of them are blind to the split.
    fn combine(&self, found: &[Found], names: &[String], variable: &str) -> Result<Reading> {
        let (lambda_tg, ecs_tg) = &self.target_groups;
        let mut states = Vec::with_capacity(names.len());
        let mut latest: Option<SystemTime> = None;
        let mut blind = true;
        let mut projections = Some(Vec::new());
        let mut demands = Some(Vec::new());
        let mut changes = Vec::with_capacity(names.len());
        for name in names {
            let alarm = found.iter().find(|a| &a.info.name == name).ok_or_else(|| {
                Error::Topology(format!(
                    "alarm {name:?} from {variable} does not exist in CloudWatch"
                ))
            })?;
            states.push(match alarm.state {
                Some(StateValue::Alarm) => AlarmState::Alarm,
                Some(StateValue::Ok) => AlarmState::Ok,
                _ => AlarmState::InsufficientData,
            });
            let changed_at = alarm.changed_at.and_then(|t| SystemTime::try_from(t).ok());
            latest = latest.max(changed_at);
            changes.push(Change {
                name: name.clone(),
                at: changed_at,
                on_no_data: on_no_data(&alarm.info),
            });
            let metrics = (!alarm.info.composite).then_some(alarm.info.metrics.as_slice());
            if sight(metrics, lambda_tg, ecs_tg) == Sight::Blind {
                demands = match (demands, &alarm.info.demand) {
                    (Some(mut all), Some(d)) => {
                        all.push(d.clone());
                        Some(all)
                    }
                    _ => None,
                };
            } else {
                blind = false;
                demands = None;
                projections = match (projections, &alarm.info.projection) {
                    (Some(mut all), Some(p)) => {
                        all.push(p.clone());
                        Some(all)
                    }
                    _ => None,
                };
            }
        }
        Ok(Reading {
            state: AlarmState::combine(states).unwrap_or(AlarmState::InsufficientData),
            changed_at: latest,
            blind,
            projections,
            demands,
            changes,
        })
    }
}

/// How to read an alarm's metric when an ALARM of it can rest on no data: an alarm on the
/// function's `ConcurrentExecutions` that spillover can read
/// ([`crate::decide::sight::projectable`]) and whose missing data is breaching, or keeps
/// the state (`ignore`). With `missing` or `notBreaching` an ALARM always rests on a
/// datapoint, or on someone's `SetAlarmState`, which is kept.
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data>
fn on_no_data(alarm: &AlarmInfo) -> Option<Projection> {
    let missing = alarm.treat_missing_data.as_deref();
    alarm
        .projection
        .clone()
        .filter(|_| matches!(missing, Some("breaching" | "ignore")))
}

impl Alarms {
    /// Since when every alarm of `reading` (a group out of ALARM) has been out of ALARM,
    /// over the last `window`: for each alarm whose state changed inside the window, the
    /// time it left ALARM, from its history and, when its metric can be read, its
    /// datapoints in periods of `period` ([`hold::out_of_alarm_since`]); the latest over
    /// the alarms. An alarm that changed before the window counts from its change. Periods
    /// that ended after `settled_until` may still get their datapoint.
    pub async fn out_of_alarm_since(
        &self,
        reading: &Reading,
        now: SystemTime,
        window: Duration,
        period: Duration,
        stepped_at: Option<SystemTime>,
        settled_until: SystemTime,
    ) -> Result<Option<SystemTime>> {
        let since = now - window;
        let mut latest: Option<SystemTime> = None;
        for change in &reading.changes {
            let at = match change.at {
                Some(at) if at > since => {
                    let Some(history) = self.history(&change.name, since).await? else {
                        latest = latest.max(Some(at));
                        continue;
                    };
                    let data = match &change.on_no_data {
                        Some(p) => Some(hold::Datapoints {
                            starts: self
                                .datapoint_starts(std::slice::from_ref(p), since - period, period)
                                .await?,
                            period,
                            settled_until,
                            stepped_at,
                        }),
                        None => None,
                    };
                    Some(hold::out_of_alarm_since(&history, since, at, data.as_ref()))
                }
                other => other,
            };
            latest = latest.max(at);
        }
        Ok(latest)
    }

    /// The state changes of alarm `name` since `since` (`DescribeAlarmHistory`, newest
    /// first, at most [`HISTORY_PAGES`] pages). `None` when there were more, or when an item
    /// does not say which states it went from and to: a partial history proves nothing.
    /// `HistoryData` is JSON with `oldState.stateValue` and `newState.stateValue`:
    /// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html>,
    /// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_AlarmHistoryItem.html>
    async fn history(&self, name: &str, since: SystemTime) -> Result<Option<Vec<Transition>>> {
        let mut changes = Vec::new();
        let mut next = None;
        for _ in 0..HISTORY_PAGES {
            self.calls.read();
            let out = self
                .client
                .describe_alarm_history()
                .alarm_name(name)
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .history_item_type(HistoryItemType::StateUpdate)
                .start_date(DateTime::from(since))
                .scan_by(ScanBy::TimestampDescending)
                .max_records(100)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| Error::aws("cloudwatch:DescribeAlarmHistory", e))?;
            for item in out.alarm_history_items() {
                let change = item.timestamp().and_then(|at| {
                    let (from, to) = states_of(item.history_data()?)?;
                    Some(Transition {
                        at: SystemTime::try_from(*at).ok()?,
                        from,
                        to,
                    })
                });
                match change {
                    Some(change) => changes.push(change),
                    None => return Ok(None),
                }
            }
            next = out.next_token().map(String::from);
            if next.is_none() {
                return Ok(Some(changes));
            }
        }
        Ok(None)
    }
}

/// How many pages of an alarm's history [`Alarms::history`] reads: a hold's worth of
/// changes fits in one (100 items).
const HISTORY_PAGES: usize = 3;

/// The states a `StateUpdate` item's `HistoryData` went from and to.
fn states_of(data: &str) -> Option<(AlarmState, AlarmState)> {
    let data: serde_json::Value = serde_json::from_str(data).ok()?;
    let state = |key: &str| match data.get(key)?.get("stateValue")?.as_str()? {
        "OK" => Some(AlarmState::Ok),
        "ALARM" => Some(AlarmState::Alarm),
        "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
        _ => None,
    };
    Some((state("oldState")?, state("newState")?))
}

impl Alarms {
    /// The sum of `metric` (namespace `AWS/ApplicationELB`, statistic Sum) for a target
    /// group of a load balancer over at least the last `window`, in periods of `period`
    /// (see [`query_start`]).
    ///
    /// ELB publishes a `RequestCount` datapoint only for periods with requests, so no
    /// datapoints means no requests:
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html>
    pub async fn target_group_sum(
        &self,
        metric: &str,
        target_group: &str,
        load_balancer: &str,
        window: Duration,
        period: Duration,
    ) -> Result<f64> {
        let end = SystemTime::now();
        let start = query_start(end, window, period);
        let query = MetricDataQuery::builder()
            .id("requests")
            .return_data(true)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/ApplicationELB")
                            .metric_name(metric)
                            .dimensions(dimension("TargetGroup", target_group))
                            .dimensions(dimension("LoadBalancer", load_balancer))
                            .build(),
                    )
                    // CloudWatch periods are whole seconds (at least 1).
                    .period(period.as_secs_f64().round().max(1.0) as i32)
                    .stat("Sum")
                    .build(),
            )
            .build();
        let results = self.metric_data(vec![query], start, end).await?;
        Ok(results.iter().flat_map(|r| r.values()).sum())
    }

    /// Every page of one `GetMetricData` between `start` and `end`.
    async fn metric_data(
        &self,
        queries: Vec<MetricDataQuery>,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Vec<MetricDataResult>> {
        let mut results = Vec::new();
        let mut next = None;
        loop {
            self.calls.read();
            let out = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from(start))
                .end_time(DateTime::from(end))
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| Error::aws("cloudwatch:GetMetricData", e))?;
            next = out.next_token().map(String::from);
            results.extend(out.metric_data_results.unwrap_or_default());
            if next.is_none() {
                return Ok(results);
            }
        }
    }
}

impl Alarms {
    /// The datapoints of each of `alarms`' metrics since `since` (`GetMetricData`, one
    /// query per alarm, in periods of `period`), in the order of `alarms`, each with the
    /// start of its period. Lambda publishes `ConcurrentExecutions` only while it is
    /// invoked, so a period without invocations has none.
    /// <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html>
    pub async fn projection_datapoints(
        &self,
        alarms: &[Projection],
        since: SystemTime,
        period: Duration,
    ) -> Result<Vec<Vec<Datapoint>>> {
        let mut points = vec![Vec::new(); alarms.len()];
        if alarms.is_empty() {
            return Ok(points);
        }
        let queries = projection_queries(alarms, period);
        for result in self.metric_data(queries, since, SystemTime::now()).await? {
            let Some(i) = result
                .id()
                .and_then(|id| id.strip_prefix('a'))
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|i| *i < alarms.len())
            else {
                continue;
            };
            points[i].extend(datapoints(&result));
        }
        Ok(points)
    }

    /// The starts of the periods since `since` in which any of `alarms`' metrics had a
    /// datapoint.
    pub async fn datapoint_starts(
        &self,
        alarms: &[Projection],
        since: SystemTime,
        period: Duration,
    ) -> Result<Vec<SystemTime>> {
        if alarms.is_empty() {
            return Ok(Vec::new());
        }
        let queries = projection_queries(alarms, period);
        let results = self.metric_data(queries, since, SystemTime::now()).await?;
        Ok(results
            .iter()
            .flat_map(|r| r.timestamps())
            .filter_map(|at| SystemTime::try_from(*at).ok())
            .collect())
    }
}

/// One `GetMetricData` query per alarm that can be projected: its metric and statistic, in
/// periods of `period`, with Ids `a0`, `a1`…
fn projection_queries(alarms: &[Projection], period: Duration) -> Vec<MetricDataQuery> {
    alarms
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut metric = Metric::builder()
                .namespace(&p.metric.namespace)
                .metric_name(&p.metric.name);
            for (name, value) in &p.metric.dimensions {
                metric = metric.dimensions(dimension(name, value));
            }
            MetricDataQuery::builder()
                .id(format!("a{i}"))
                .return_data(true)
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric.build())
                        .period(period.as_secs_f64().round().max(1.0) as i32)
                        .stat(&p.stat)
                        .build(),
                )
                .build()
        })
        .collect()
}

impl Alarms {
    /// The datapoints of the query each alarm evaluates over the last `settle` time and the
    /// [`DEMAND_PERIODS`] periods before it (`GetMetricData` of its own queries, one call
    /// per alarm), with its period and threshold, in the order of `demands`.
    /// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html>
    pub async fn demand_data(
        &self,
        demands: &[Demand],
        settle: Duration,
    ) -> Result<Vec<DemandData>> {
        let mut all = Vec::with_capacity(demands.len());
        for demand in demands {
            let period = demand
                .queries
                .iter()
                .filter_map(|q| q.metric_stat()?.period())
                .max()
                .unwrap_or(60)
                .max(1);
            let period = Duration::from_secs(u64::from(period.unsigned_abs()));
            let end = SystemTime::now();
            let start = query_start(end, settle + period * DEMAND_PERIODS, period);
            // The value is the query the alarm evaluates (`ReturnData`, true by default).
            let evaluated: Vec<&str> = demand
                .queries
                .iter()
                .filter(|q| q.return_data().unwrap_or(true))
                .filter_map(|q| q.id())
                .collect();
            let points = self
                .metric_data(demand.queries.clone(), start, end)
                .await?
                .iter()
                .filter(|r| r.id().is_some_and(|id| evaluated.contains(&id)))
                .flat_map(datapoints)
                .collect();
            all.push(DemandData {
                points,
                period,
                threshold: demand.threshold,
            });
        }
        Ok(all)
    }
}

/// A result's datapoints, each stamped with the start of its period.
fn datapoints(result: &MetricDataResult) -> Vec<Datapoint> {
    result
        .timestamps()
        .iter()
        .zip(result.values())
        .filter_map(|(at, &value)| {
            Some(Datapoint {
                start: SystemTime::try_from(*at).ok()?,
                value,
            })
        })
        .collect()
}

/// Where a query that must see every request of the last `window` starts: one period
/// before the window. A datapoint is stamped with the start of its period and
/// `StartTime` is inclusive, so a period that began before the window but ends inside it
/// (requests the window must count) is only returned when the query starts at or before
/// that period's start. CloudWatch rounds a recent `StartTime` down to the minute, which
/// covers this for 60 s periods only; the local world does not round at all.
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html>
fn query_start(end: SystemTime, window: Duration, period: Duration) -> SystemTime {
    end - window.max(period) - period
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_starts_early_enough_for_every_period_that_overlaps_the_window() {
        let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let minute = Duration::from_secs(60);
        for (window, period) in [(300, 60), (60, 60), (20, 4), (30, 300)] {
            let (window, period) = (Duration::from_secs(window), Duration::from_secs(period));
            let start = query_start(end, window, period);
            let window_start = end - window.max(period);
            // Any period that began up to one period before the window ends inside it.
            let straddling = window_start - period + Duration::from_secs(1);
            assert!(start <= straddling, "{window:?} in periods of {period:?}");
            // No more than one period of extra history.
            assert!(end.duration_since(start).unwrap() <= window.max(period) + period);
        }
        let start = query_start(end, Duration::from_secs(300), minute);
        assert_eq!(end.duration_since(start).unwrap(), Duration::from_secs(360));
    }

    #[test]
    fn a_history_item_says_which_states_it_went_from_and_to() {
        // The shape of `aws cloudwatch describe-alarm-history` in the AWS CLI's examples.
        let aws = r#"{"version":"1.0","oldState":{"stateValue":"ALARM","stateReason":"testing purposes"},"newState":{"stateValue":"OK","stateReason":"Threshold Crossed: 2 datapoints were not greater than the threshold (70.0).","stateReasonData":{"version":"1.0","statistic":"Average","period":300,"recentDatapoints":[38.958,40.292],"threshold":70.0}}}"#;
        assert_eq!(states_of(aws), Some((AlarmState::Alarm, AlarmState::Ok)));
        let insufficient =
            r#"{"oldState":{"stateValue":"INSUFFICIENT_DATA"},"newState":{"stateValue":"OK"}}"#;
        assert_eq!(
            states_of(insufficient),
            Some((AlarmState::InsufficientData, AlarmState::Ok))
        );
        // Anything else proves nothing.
        for unreadable in [
            "",
            "not json",
            r#"{"newState":{"stateValue":"OK"}}"#,
            r#"{"oldState":{"stateValue":"ALARM"},"newState":{"stateValue":"MAYBE"}}"#,
            r#"{"oldState":{"stateValue":1},"newState":{"stateValue":"OK"}}"#,
        ] {
            assert_eq!(states_of(unreadable), None, "{unreadable}");
        }
    }
}
