//! Typed configuration from `SPILLOVER_*` environment variables, read and checked once.

use std::time::Duration;

use crate::error::{Error, Result};

/// Where the weighted forward action lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardSite {
    /// The default action of a listener (`SPILLOVER_LISTENER_ARN`).
    Listener(String),
    /// The actions of one listener rule (`SPILLOVER_RULE_ARN`).
    Rule(String),
}

impl ForwardSite {
    pub fn arn(&self) -> &str {
        match self {
            ForwardSite::Listener(arn) | ForwardSite::Rule(arn) => arn,
        }
    }

    /// The variable that names it.
    pub fn variable(&self) -> &'static str {
        match self {
            ForwardSite::Listener(_) => "SPILLOVER_LISTENER_ARN",
            ForwardSite::Rule(_) => "SPILLOVER_RULE_ARN",
        }
    }
}

/// How the bounded poller paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSettings {
    /// First wait between two checks.
    pub interval: Duration,
    /// The wait doubles after every check up to this; equal to `interval`, no backoff.
    pub max_interval: Duration,
    /// The longest the loop waits for tasks, whatever the Lambda deadline.
    pub budget: Duration,
    /// Kept free before the Lambda deadline so the loop can report and return.
    pub deadline_margin: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub cluster: String,
    pub service: String,
    pub site: ForwardSite,
    pub lambda_target_group_arn: String,
    pub ecs_target_group_arn: String,
    pub alarm_names: Vec<String>,
    /// Warning alarms: in ALARM, the service is scaled out at weight 0 (pre-warm).
    pub warm_alarm_names: Vec<String>,
    /// Desired count (or Application Auto Scaling minimum) while spilled or pre-warmed.
    pub spill_count: i32,
    /// Desired count after returning.
    pub idle_count: i32,
    /// Healthy targets (and running tasks) needed before the ECS target group gets weight.
    pub min_healthy: u32,
    /// Percent of traffic on ECS at each step, ascending, the last one the full spill.
    pub steps: Vec<u8>,
    /// How long every alarm must have been out of ALARM before traffic steps back.
    pub return_hold: Duration,
    /// Least time between the shift to ECS and the first step back.
    pub min_spill: Duration,
    /// Least time between a weight change and the next step back.
    pub step_settle: Duration,
    /// Period of the `RequestCount` query that tells whether traffic has left ECS.
    pub metric_period: Duration,
    /// How long after its end a CloudWatch period counts as complete ("settled"). A newer
    /// period is partial, a lower bound of its final value: a rule that acts on a low
    /// reading or on no datapoint waits for settled periods (see [`crate::decide::settled`]).
    pub metric_settle: Duration,
    /// The same for the load balancer's metrics (`AWS/ApplicationELB`), which the drain
    /// before a scale-in reads: ALB reports every minute, and its metrics can come sooner
    /// than Lambda's, whose invocations are stamped with their start.
    pub elb_metric_settle: Duration,
    /// Longest wait, from the return, for the ECS target group's requests to stop before
    /// the scale-in goes ahead anyway (clients that never pause keep a refreshed cookie).
    pub scale_in_max_wait: Duration,
    pub poll: PollSettings,
    /// CloudWatch embedded metrics in the per-invocation log line; `None` when off.
    pub metrics: Option<MetricsSettings>,
    /// The EventBridge bus that gets an event on each spill, return and failure; `None`
    /// when notifications are off.
    pub event_bus: Option<String>,
}

/// Where the embedded metrics go: `SPILLOVER_METRICS_NAMESPACE` and
/// `SPILLOVER_METRICS_DIMENSIONS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    pub namespace: String,
    /// (name, value) pairs, in the order given; one dimension set.
    pub dimensions: Vec<(String, String)>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let vars = Vars(&get);
        let site = match (
            vars.optional("SPILLOVER_LISTENER_ARN"),
            vars.optional("SPILLOVER_RULE_ARN"),
        ) {
            (Some(listener), None) => {
                ForwardSite::Listener(arn("SPILLOVER_LISTENER_ARN", listener)?)
            }
            (None, Some(rule)) => ForwardSite::Rule(arn("SPILLOVER_RULE_ARN", rule)?),
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "set only one of SPILLOVER_LISTENER_ARN and SPILLOVER_RULE_ARN".into(),
                ));
            }
            (None, None) => {
                return Err(Error::Config(
                    "SPILLOVER_LISTENER_ARN or SPILLOVER_RULE_ARN must be set to the listener or rule whose forward action spillover weights".into(),
                ));
            }
        };
        let alarm_names = names(Some(vars.required("SPILLOVER_ALARM_NAMES")?));
        if alarm_names.is_empty() {
            return Err(Error::Config(
                "SPILLOVER_ALARM_NAMES must list at least one alarm name (comma-separated)".into(),
            ));
        }
        let warm_alarm_names = names(vars.optional("SPILLOVER_WARM_ALARM_NAMES"));

        let mut config = Config {
            cluster: vars.required("SPILLOVER_CLUSTER")?,
            service: service_name(vars.required("SPILLOVER_SERVICE")?),
            site,
            lambda_target_group_arn: arn(
                "SPILLOVER_LAMBDA_TARGET_GROUP_ARN",
                vars.required("SPILLOVER_LAMBDA_TARGET_GROUP_ARN")?,
            )?,
            ecs_target_group_arn: arn(
                "SPILLOVER_ECS_TARGET_GROUP_ARN",
                vars.required("SPILLOVER_ECS_TARGET_GROUP_ARN")?,
            )?,
            alarm_names,
            warm_alarm_names,
            spill_count: vars.number("SPILLOVER_SPILL_COUNT", 2)?,
            idle_count: vars.number("SPILLOVER_IDLE_COUNT", 0)?,
            min_healthy: vars.number("SPILLOVER_MIN_HEALTHY", 1)?,
            steps: steps(&vars.text("SPILLOVER_STEPS", "50,100"))?,
            return_hold: vars.seconds("SPILLOVER_RETURN_HOLD_SECS", 300)?,
            min_spill: vars.seconds("SPILLOVER_MIN_SPILL_SECS", 120)?,
            step_settle: vars.seconds("SPILLOVER_STEP_SETTLE_SECS", 120)?,
            metric_period: vars.seconds("SPILLOVER_METRIC_PERIOD_SECS", 60)?,
            // CloudWatch publishes no figure for when a period is complete: data of the last
            // minute "has not been fully aggregated" (user guide, cloudwatch-live-data), and
            // a Lambda metric, stamped with the invocation's start, can come "several minutes"
            // later (Lambda guide, monitoring-metrics). Monitoring vendors wait 2 minutes for
            // Lambda and 5 for ALB; 3 minutes is the cautious default, and a setting.
            metric_settle: vars.seconds("SPILLOVER_METRIC_SETTLE_SECS", 180)?,
            elb_metric_settle: vars.seconds("SPILLOVER_ELB_METRIC_SETTLE_SECS", 180)?,
            scale_in_max_wait: vars.seconds("SPILLOVER_SCALE_IN_MAX_WAIT_SECS", 1800)?,
            // Fast reaction: one check every 500 ms without backoff. A check reads the
            // target health (and the running count only when it looks ready, or the stopped
            // tasks every few checks to catch a failed start), so the wait makes about 2.4
            // reads/s, and never more than 3 on average (the wait's budget, 1.5 requests
            // per interval: `Controller::wait_until_ready`). The weights move within a
            // second of the targets turning healthy: half a second to see it at worst, then
            // three round trips (the last check's reads, made together; the marks; the
            // write).
            poll: PollSettings {
                interval: vars.millis("SPILLOVER_POLL_INTERVAL_MS", 500)?,
                max_interval: vars.millis("SPILLOVER_POLL_MAX_INTERVAL_MS", 500)?,
                budget: vars.seconds("SPILLOVER_WAIT_BUDGET_SECS", 240)?,
                deadline_margin: vars.millis("SPILLOVER_DEADLINE_MARGIN_MS", 10_000)?,
            },
            metrics: None,
            event_bus: vars.optional("SPILLOVER_EVENT_BUS"),
        };
        config.metrics = metrics_settings(&vars, &config.service)?;
        config.check()
    }

    /// Cross-variable rules, each error naming the variables involved.
    fn check(self) -> Result<Self> {
        let fail = |msg: String| Err(Error::Config(msg));
        if self.lambda_target_group_arn == self.ecs_target_group_arn {
            return fail("SPILLOVER_LAMBDA_TARGET_GROUP_ARN and SPILLOVER_ECS_TARGET_GROUP_ARN are the same target group".into());
        }
        // The CloudWatch dimensions of the ECS target group's RequestCount come from these.
        if !self.ecs_target_group_arn.contains(":targetgroup/") {
            return fail(format!(
                "SPILLOVER_ECS_TARGET_GROUP_ARN must be a target group ARN (…:targetgroup/NAME/ID), got {:?}",
                self.ecs_target_group_arn
            ));
        }
        if !(self.site.arn().contains(":listener/") || self.site.arn().contains(":listener-rule/"))
        {
            return fail(format!(
                "SPILLOVER_LISTENER_ARN / SPILLOVER_RULE_ARN must be a listener or listener rule ARN, got {:?}",
                self.site.arn()
            ));
        }
        if self.spill_count < 1 {
            return fail(format!(
                "SPILLOVER_SPILL_COUNT must be at least 1, got {}",
                self.spill_count
            ));
        }
        if self.idle_count < 0 || self.idle_count >= self.spill_count {
            return fail(format!(
                "SPILLOVER_IDLE_COUNT must be within 0..SPILLOVER_SPILL_COUNT ({}), got {}",
                self.spill_count, self.idle_count
            ));
        }
        if self.min_healthy < 1 || self.min_healthy as i64 > self.spill_count as i64 {
            return fail(format!(
                "SPILLOVER_MIN_HEALTHY must be within 1..=SPILLOVER_SPILL_COUNT ({}), got {}",
                self.spill_count, self.min_healthy
            ));
        }
        if let Some(name) = self
            .warm_alarm_names
            .iter()
            .find(|n| self.alarm_names.contains(n))
        {
            return fail(format!(
                "alarm {name:?} is in both SPILLOVER_ALARM_NAMES and SPILLOVER_WARM_ALARM_NAMES"
            ));
        }
        if self.metric_period < Duration::from_secs(1) {
            return fail("SPILLOVER_METRIC_PERIOD_SECS must be at least 1 (CloudWatch periods are whole seconds)".into());
        }
        if self.poll.interval.is_zero() || self.poll.max_interval < self.poll.interval {
            return fail(
                "SPILLOVER_POLL_INTERVAL_MS must be above 0 and at most SPILLOVER_POLL_MAX_INTERVAL_MS"
                    .into(),
            );
        }
        if self.poll.budget.is_zero() {
            return fail("SPILLOVER_WAIT_BUDGET_SECS must be above 0".into());
        }
        Ok(self)
    }

    /// One of the spill alarms or the warm alarms: an event for it wakes the loop.
    pub fn is_configured_alarm(&self, name: &str) -> bool {
        self.alarm_names
            .iter()
            .chain(&self.warm_alarm_names)
            .any(|n| n == name)
    }
}

/// `SPILLOVER_METRICS` (`on`, the default, or `off`), the namespace and the dimensions
/// (`Name=Value,...`, default `Service=<service name>`).
fn metrics_settings<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
    service: &str,
) -> Result<Option<MetricsSettings>> {
    match vars
        .text("SPILLOVER_METRICS", "on")
        .to_ascii_lowercase()
        .as_str()
    {
        "on" | "true" | "1" => {}
        "off" | "false" | "0" => return Ok(None),
        other => {
            return Err(Error::Config(format!(
                "SPILLOVER_METRICS must be on or off, got {other:?}"
            )));
        }
    }
    let namespace = vars.text("SPILLOVER_METRICS_NAMESPACE", "spillover");
    // CloudWatch namespaces: 1..=255 characters, no leading colon.
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html
    if namespace.len() > 255 || namespace.starts_with(':') {
        return Err(Error::Config(format!(
            "SPILLOVER_METRICS_NAMESPACE must be 1 to 255 characters and not start with ':', got {namespace:?}"
        )));
    }
    let raw = vars.text(
        "SPILLOVER_METRICS_DIMENSIONS",
        &format!("Service={service}"),
    );
    let mut dimensions: Vec<(String, String)> = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = |why: &str| {
            Error::Config(format!(
                "SPILLOVER_METRICS_DIMENSIONS must be Name=Value pairs separated by commas (e.g. Service=web-app,Stage=prod): {why}, got {pair:?}"
            ))
        };
        let (name, value) = pair.split_once('=').ok_or_else(|| bad("no '='"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || value.is_empty() {
            return Err(bad("an empty name or value"));
        }
        if crate::metrics::is_reserved(name) {
            return Err(bad(
                "the name is already a member of the log line (a summary field or a metric name)",
            ));
        }
        if dimensions.iter().any(|(n, _)| n == name) {
            return Err(bad("a name given twice"));
        }
        dimensions.push((name.to_string(), value.to_string()));
    }
    // EMF: a dimension set holds at most 30 dimension keys.
    if dimensions.len() > crate::metrics::MAX_DIMENSIONS {
        return Err(Error::Config(format!(
            "SPILLOVER_METRICS_DIMENSIONS holds {} dimensions; CloudWatch takes at most {}",
            dimensions.len(),
            crate::metrics::MAX_DIMENSIONS
        )));
    }
    Ok(Some(MetricsSettings {
        namespace,
        dimensions,
    }))
}

/// Comma-separated names, blanks dropped.
fn names(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(String::from)
        .collect()
}

/// `SPILLOVER_STEPS`: percents of traffic on ECS, each within 1..=100, in any order.
fn steps(value: &str) -> Result<Vec<u8>> {
    let bad = |why: String| {
        Error::Config(format!(
            "SPILLOVER_STEPS must be comma-separated percents within 1..=100 (e.g. 10,25,50,100), {why}"
        ))
    };
    let mut steps = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let percent: u8 = part.parse().map_err(|_| bad(format!("got {part:?}")))?;
        if !(1..=100).contains(&percent) {
            return Err(bad(format!("got {percent}")));
        }
        steps.push(percent);
    }
    if steps.is_empty() {
        return Err(bad("got none".into()));
    }
    steps.sort_unstable();
    steps.dedup();
    Ok(steps)
}

struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<String> {
        self.optional(name).ok_or_else(|| {
            Error::Config(format!(
                "{name} is not set; see the table in docs/configuration.md"
            ))
        })
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| Error::Config(format!("{name} must be a whole number, got {raw:?}"))),
        }
    }

    fn text(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_string())
    }

    /// A duration in seconds; decimals are accepted (`7.5`), since a faster-than-real-time
    /// test world divides every `_SECS` setting by its speed.
    fn seconds(&self, name: &str, default: u64) -> Result<Duration> {
        self.duration(name, default as f64, 1.0)
    }

    /// A duration in milliseconds; decimals are accepted.
    fn millis(&self, name: &str, default: u64) -> Result<Duration> {
        self.duration(name, default as f64, 0.001)
    }

    fn duration(&self, name: &str, default: f64, unit_secs: f64) -> Result<Duration> {
        let value = match self.optional(name) {
            None => default,
            Some(raw) => raw.parse::<f64>().map_err(|_| {
                Error::Config(format!(
                    "{name} must be a number (decimals allowed), got {raw:?}"
                ))
            })?,
        };
        Duration::try_from_secs_f64(value * unit_secs).map_err(|_| {
            Error::Config(format!(
                "{name} must be a finite number of at least 0, got {value}"
            ))
        })
    }
}

/// A service ARN (what CloudFormation's `Ref` of a service gives) names the service in its
/// last segment; tasks carry the name, not the ARN, in their group.
fn service_name(value: String) -> String {
    match value.strip_prefix("arn:") {
        Some(rest) => rest.rsplit('/').next().unwrap_or_default().to_string(),
        None => value,
    }
}

fn arn(name: &str, value: String) -> Result<String> {
    if value.starts_with("arn:") {
        Ok(value)
    } else {
        Err(Error::Config(format!(
            "{name} must be an ARN (arn:…), got {value:?}"
        )))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(crate) fn base_vars() -> HashMap<&'static str, String> {
        HashMap::from([
            ("SPILLOVER_CLUSTER", "web-app".to_string()),
            ("SPILLOVER_SERVICE", "web-app".to_string()),
            (
                "SPILLOVER_LISTENER_ARN",
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2"
                    .to_string(),
            ),
            (
                "SPILLOVER_LAMBDA_TARGET_GROUP_ARN",
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1"
                    .to_string(),
            ),
            (
                "SPILLOVER_ECS_TARGET_GROUP_ARN",
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2".to_string(),
            ),
            (
                "SPILLOVER_ALARM_NAMES",
                "web-app-concurrency-high, web-app-concurrency-percent,web-app-overloaded"
                    .to_string(),
            ),
        ])
    }

    fn load(vars: &HashMap<&'static str, String>) -> Result<Config> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    /// The config the decision tests use: every default.
    pub(crate) fn test_config() -> Config {
        load(&base_vars()).expect("base vars are valid")
    }

    /// The defaults with some variables set.
    pub(crate) fn test_config_with(extra: &[(&'static str, &str)]) -> Config {
        let mut vars = base_vars();
        for (name, value) in extra {
            vars.insert(name, value.to_string());
        }
        load(&vars).expect("test vars are valid")
    }

    fn error_of(vars: &HashMap<&'static str, String>) -> String {
        load(vars)
            .expect_err("config should be rejected")
            .to_string()
    }

    #[test]
    fn defaults_fill_every_optional_variable() {
        let config = test_config();
        assert_eq!(config.spill_count, 2);
        assert_eq!(config.idle_count, 0);
        assert_eq!(config.min_healthy, 1);
        assert_eq!(config.steps, [50, 100]);
        assert_eq!(config.return_hold, Duration::from_secs(300));
        assert_eq!(config.min_spill, Duration::from_secs(120));
        assert_eq!(config.step_settle, Duration::from_secs(120));
        assert_eq!(config.metric_period, Duration::from_secs(60));
        assert_eq!(config.metric_settle, Duration::from_secs(180));
        assert_eq!(config.elb_metric_settle, Duration::from_secs(180));
        assert_eq!(config.scale_in_max_wait, Duration::from_secs(1800));
        assert!(config.warm_alarm_names.is_empty());
        assert_eq!(config.poll.interval, Duration::from_millis(500));
        assert_eq!(config.poll.max_interval, Duration::from_millis(500));
        assert_eq!(config.poll.budget, Duration::from_secs(240));
        assert_eq!(
            config.alarm_names,
            [
                "web-app-concurrency-high",
                "web-app-concurrency-percent",
                "web-app-overloaded"
            ]
        );
    }

    #[test]
    fn a_missing_required_variable_is_named() {
        for name in [
            "SPILLOVER_CLUSTER",
            "SPILLOVER_SERVICE",
            "SPILLOVER_LAMBDA_TARGET_GROUP_ARN",
            "SPILLOVER_ECS_TARGET_GROUP_ARN",
            "SPILLOVER_ALARM_NAMES",
        ] {
            let mut vars = base_vars();
            vars.remove(name);
            assert!(error_of(&vars).contains(name), "{name}");
        }
    }

    #[test]
    fn listener_and_rule_are_mutually_exclusive_and_one_is_required() {
        let mut vars = base_vars();
        vars.insert(
            "SPILLOVER_RULE_ARN",
            "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/x".into(),
        );
        assert!(error_of(&vars).contains("only one of"));
        vars.remove("SPILLOVER_LISTENER_ARN");
        assert!(matches!(load(&vars).unwrap().site, ForwardSite::Rule(_)));
        vars.remove("SPILLOVER_RULE_ARN");
        assert!(error_of(&vars).contains("SPILLOVER_LISTENER_ARN or SPILLOVER_RULE_ARN"));
    }

    #[test]
    fn invalid_numbers_and_ranges_name_the_variable() {
        let cases = [
            (
                "SPILLOVER_SPILL_COUNT",
                "two",
                "SPILLOVER_SPILL_COUNT must be a whole number",
            ),
            (
                "SPILLOVER_SPILL_COUNT",
                "0",
                "SPILLOVER_SPILL_COUNT must be at least 1",
            ),
            ("SPILLOVER_MIN_HEALTHY", "3", "SPILLOVER_MIN_HEALTHY"),
            ("SPILLOVER_IDLE_COUNT", "2", "SPILLOVER_IDLE_COUNT"),
            ("SPILLOVER_STEPS", "0,100", "SPILLOVER_STEPS must be"),
            ("SPILLOVER_STEPS", "50,101", "got 101"),
            ("SPILLOVER_STEPS", "half", "got \"half\""),
            ("SPILLOVER_STEPS", ",", "got none"),
            (
                "SPILLOVER_RETURN_HOLD_SECS",
                "-1",
                "SPILLOVER_RETURN_HOLD_SECS must be a finite",
            ),
            (
                "SPILLOVER_MIN_SPILL_SECS",
                "NaN",
                "SPILLOVER_MIN_SPILL_SECS must be a finite",
            ),
            (
                "SPILLOVER_METRIC_SETTLE_SECS",
                "-60",
                "SPILLOVER_METRIC_SETTLE_SECS must be a finite",
            ),
            (
                "SPILLOVER_METRIC_SETTLE_SECS",
                "3m",
                "SPILLOVER_METRIC_SETTLE_SECS must be a number",
            ),
            (
                "SPILLOVER_WAIT_BUDGET_SECS",
                "soon",
                "SPILLOVER_WAIT_BUDGET_SECS must be a number",
            ),
            (
                "SPILLOVER_POLL_INTERVAL_MS",
                "inf",
                "SPILLOVER_POLL_INTERVAL_MS must be a finite",
            ),
            (
                "SPILLOVER_METRIC_PERIOD_SECS",
                "0.5",
                "SPILLOVER_METRIC_PERIOD_SECS must be at least 1",
            ),
            (
                "SPILLOVER_WARM_ALARM_NAMES",
                "web-app-overloaded",
                "in both SPILLOVER_ALARM_NAMES and SPILLOVER_WARM_ALARM_NAMES",
            ),
            (
                "SPILLOVER_POLL_INTERVAL_MS",
                "0",
                "SPILLOVER_POLL_INTERVAL_MS",
            ),
            ("SPILLOVER_ECS_TARGET_GROUP_ARN", "ecs-tg", "must be an ARN"),
            (
                "SPILLOVER_METRICS",
                "maybe",
                "SPILLOVER_METRICS must be on or off",
            ),
            (
                "SPILLOVER_METRICS_DIMENSIONS",
                "Service",
                "SPILLOVER_METRICS_DIMENSIONS must be Name=Value pairs",
            ),
            (
                "SPILLOVER_METRICS_DIMENSIONS",
                "Service=a,Service=b",
                "a name given twice",
            ),
            (
                "SPILLOVER_METRICS_DIMENSIONS",
                "outcome=x",
                "already a member of the log line",
            ),
            (
                "SPILLOVER_METRICS_DIMENSIONS",
                "Spilled=x",
                "already a member of the log line",
            ),
            (
                "SPILLOVER_METRICS_NAMESPACE",
                ":aws",
                "SPILLOVER_METRICS_NAMESPACE must be",
            ),
        ];
        for (name, value, expected) in cases {
            let mut vars = base_vars();
            vars.insert(name, value.into());
            let err = error_of(&vars);
            assert!(err.contains(expected), "{name}={value}: {err}");
        }
    }

    #[test]
    fn durations_accept_decimals_for_a_faster_world() {
        let config = test_config_with(&[
            ("SPILLOVER_RETURN_HOLD_SECS", "7.5"),
            ("SPILLOVER_WAIT_BUDGET_SECS", "24"),
            ("SPILLOVER_POLL_INTERVAL_MS", "80.5"),
            ("SPILLOVER_POLL_MAX_INTERVAL_MS", "80.5"),
            ("SPILLOVER_MIN_SPILL_SECS", "0"),
            ("SPILLOVER_METRIC_SETTLE_SECS", "18.5"),
        ]);
        assert_eq!(config.return_hold, Duration::from_millis(7_500));
        assert_eq!(config.poll.budget, Duration::from_secs(24));
        assert_eq!(config.poll.interval, Duration::from_micros(80_500));
        assert_eq!(config.min_spill, Duration::ZERO);
        assert_eq!(config.metric_settle, Duration::from_millis(18_500));
        assert_eq!(
            config.elb_metric_settle,
            Duration::from_secs(180),
            "its own setting"
        );
    }

    #[test]
    fn steps_are_sorted_and_warm_alarms_are_configured_alarms() {
        let config = test_config_with(&[
            ("SPILLOVER_STEPS", "100, 10,50,50,25"),
            ("SPILLOVER_WARM_ALARM_NAMES", "web-app-warm, "),
        ]);
        assert_eq!(config.steps, [10, 25, 50, 100]);
        assert_eq!(config.warm_alarm_names, ["web-app-warm"]);
        assert!(config.is_configured_alarm("web-app-warm"));
        assert!(config.is_configured_alarm("web-app-overloaded"));
        assert!(!config.is_configured_alarm("web-app-other"));
    }

    #[test]
    fn metrics_default_to_the_service_and_notifications_to_off() {
        let config = test_config();
        let metrics = config.metrics.expect("metrics are on by default");
        assert_eq!(metrics.namespace, "spillover");
        assert_eq!(
            metrics.dimensions,
            [("Service".to_string(), "web-app".to_string())]
        );
        assert_eq!(config.event_bus, None);

        let config = test_config_with(&[
            ("SPILLOVER_METRICS", "off"),
            ("SPILLOVER_EVENT_BUS", "default"),
        ]);
        assert_eq!(config.metrics, None);
        assert_eq!(config.event_bus.as_deref(), Some("default"));

        let many: Vec<String> = (0..31).map(|i| format!("D{i}=v")).collect();
        let mut vars = base_vars();
        vars.insert("SPILLOVER_METRICS_DIMENSIONS", many.join(","));
        assert!(error_of(&vars).contains("at most 30"));
    }

    #[test]
    fn a_service_arn_is_taken_by_its_name() {
        let mut vars = base_vars();
        vars.insert(
            "SPILLOVER_SERVICE",
            "arn:aws:ecs:us-east-1:123456789012:service/web-app/web-app-spill".into(),
        );
        assert_eq!(load(&vars).unwrap().service, "web-app-spill");
    }

    #[test]
    fn the_same_target_group_twice_is_rejected() {
        let mut vars = base_vars();
        vars.insert(
            "SPILLOVER_ECS_TARGET_GROUP_ARN",
            vars["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"].clone(),
        );
        assert!(error_of(&vars).contains("same target group"));
    }
}
