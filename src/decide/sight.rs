//! Whether an alarm can see the split: does moving traffic to ECS change what it measures?
//!
//! An alarm on the app function's Lambda metrics (`ConcurrentExecutions`, `Invocations`,
//! `Throttles`, ...) or on the Lambda target group's requests alone watches the very traffic
//! a spill removes: every step back changes what it sees, so traffic steps back one step
//! at a time and the alarm gets the settle time to judge each. An alarm on demand that the
//! split cannot change (the recommended one: both target groups' `RequestCount`, or the
//! load balancer's) already said, for the whole return hold, that Lambda can take all of
//! it: then the return is one move, and the service is idle a settle time sooner.
//!
//! Anything this module cannot read (a composite alarm, a custom metric) counts as seeing
//! the split, the cautious side.
//!
//! One kind of alarm that sees the split can still foresee a step: the app function's
//! `ConcurrentExecutions` moves in proportion to Lambda's share, so its reading at one
//! split carries to the next ([`projectable`], [`carried`]). One kind of blind alarm says
//! how far over its threshold the demand is: requests in proportion, so only the excess
//! needs to move ([`reads_demand`], [`excess_percent`]).

use serde::{Deserialize, Serialize};

/// One metric an alarm reads: its namespace, name and dimensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricRef {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl MetricRef {
    /// The value of one dimension (`TargetGroup` is `targetgroup/NAME/ID`).
    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What an alarm can see of the split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "sight", content = "why")]
pub enum Sight {
    /// It measures demand the split does not change.
    Blind,
    /// It measures traffic the split moves, or cannot be read: steps back one at a time.
    Sees(String),
}

/// What an alarm made of `metrics` sees, for the given target groups' dimension values.
/// `metrics` is `None` for a composite alarm.
pub fn sight(metrics: Option<&[MetricRef]>, lambda_tg: &str, ecs_tg: &str) -> Sight {
    let Some(metrics) = metrics.filter(|m| !m.is_empty()) else {
        return Sight::Sees("a composite alarm, or one without metrics".into());
    };
    let mut groups = Vec::new();
    for metric in metrics {
        match metric.namespace.as_str() {
            "AWS/Lambda" => {
                return Sight::Sees(format!(
                    "it watches AWS/Lambda {}, which a spill removes",
                    metric.name
                ));
            }
            "AWS/ApplicationELB" => {
                if let Some(group) = metric.dimension("TargetGroup") {
                    groups.push(group);
                }
            }
            other => {
                return Sight::Sees(format!("it watches {other} {}", metric.name));
            }
        }
    }
    // No target group at all: the load balancer's own metrics, the same whatever the
    // split. Both: demand over the two sides (the recommended metric math).
    let lambda = groups.contains(&lambda_tg);
    let ecs = groups.contains(&ecs_tg);
    if groups.is_empty() || (lambda && ecs) {
        Sight::Blind
    } else {
        Sight::Sees("it watches one side of the split's target groups".into())
    }
}

/// An alarm that sees the split, in a form whose reading can be carried to another split.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub metric: MetricRef,
    /// `Maximum` or `Average`.
    pub stat: String,
    pub threshold: f64,
}

/// Whether an alarm's reading can be carried to another split: a single metric (not metric
/// math) that is the app function's `ConcurrentExecutions`, under `Maximum` or `Average`,
/// alarming above a positive threshold. Lambda concurrency is request rate times duration
/// (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html>), so it moves in
/// proportion to Lambda's share of the traffic: what it reads at one split says what it
/// would read at the next. A sum (`Invocations`, `Sum`) would too, but only per period of
/// the alarm's own length; anything else (throttles, durations, custom metrics) does not
/// scale with the share, and its return stays judged by the alarm step by step.
pub fn projectable(
    metric: &MetricRef,
    stat: Option<&str>,
    comparison: Option<&str>,
    threshold: Option<f64>,
) -> Option<Projection> {
    let lambda_concurrency =
        metric.namespace == "AWS/Lambda" && metric.name == "ConcurrentExecutions";
    let stat = stat.filter(|s| matches!(*s, "Maximum" | "Average"))?;
    let above = matches!(
        comparison?,
        "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold"
    );
    let threshold = threshold.filter(|t| *t > 0.0)?;
    (lambda_concurrency && above).then(|| Projection {
        metric: metric.clone(),
        stat: stat.to_string(),
        threshold,
    })
}

/// What a load measured with `from` percent of the traffic on ECS becomes at `to` percent:
/// Lambda's share is `100 - percent`. `None` when Lambda had no share to measure.
pub fn carried(load: f64, from: f64, to: f64) -> Option<f64> {
    let (share_from, share_to) = (100.0 - from, 100.0 - to);
    (share_from > 0.0).then(|| load * share_to / share_from)
}

/// One query of an alarm's metric math (or its single metric as one query): a metric and
/// its statistic, or an expression over other queries' ids.
#[derive(Debug, Clone, PartialEq)]
pub struct MathQuery {
    pub id: String,
    /// The metric and statistic of a `MetricStat` query.
    pub metric: Option<(MetricRef, String)>,
    pub expression: Option<String>,
    /// Whether the alarm evaluates this query (`ReturnData`).
    pub returned: bool,
}

/// Whether an alarm blind to the split reads the demand itself: what it evaluates is in
/// proportion to the load balancer's requests, so its value over its threshold says how
/// many times what Lambda should carry the demand is, and `1 - threshold / value` is the
/// share only ECS can take ([`excess_percent`]). Every metric is `AWS/ApplicationELB`
/// `RequestCount` under `Sum`; the query the alarm evaluates is linear in them, with no
/// constant term (`(FILL(m1, 0) + FILL(m2, 0)) * 0.5 / 60`, the recommended alarm, is;
/// `m1 / m2` or `m1 + 10` is not); it alarms above a positive threshold. Anything else
/// (latency, error counts, a ratio) says that the demand is high, not how high.
pub fn reads_demand(
    queries: &[MathQuery],
    comparison: Option<&str>,
    threshold: Option<f64>,
) -> bool {
    let above = matches!(
        comparison,
        Some("GreaterThanThreshold" | "GreaterThanOrEqualToThreshold")
    );
    let requests = queries.iter().all(|q| match &q.metric {
        Some((m, stat)) => {
            m.namespace == "AWS/ApplicationELB" && m.name == "RequestCount" && stat == "Sum"
        }
        None => true,
    });
    let mut returned = queries.iter().filter(|q| q.returned);
    let evaluated = match (returned.next(), returned.next()) {
        (Some(q), None) => q,
        _ => return false,
    };
    above
        && threshold.is_some_and(|t| t > 0.0)
        && requests
        && degree(queries, &evaluated.id, 0) == Some(Degree::Linear)
}

/// The percent of the traffic only ECS can take, when a demand reading is `load` times its
/// threshold: Lambda should carry `1 / load` of it. Rounded up to a whole percent, so that
/// Lambda's share is never above its threshold. `None` when there is no excess.
pub fn excess_percent(load: f64) -> Option<u8> {
    (load > 1.0 && load.is_finite())
        .then(|| (100.0 * (1.0 - 1.0 / load)).ceil().clamp(1.0, 100.0) as u8)
}

/// The demand a reading says, from its values over whole periods, oldest first: the
/// highest of them, or the last one carried one period further along its rise, whichever
/// is higher. A reading is a period's average, so under a rising demand the last one is
/// already behind; carried ahead, a ramp's excess is taken in one stop rather than two.
/// Under a falling or steady demand it is the highest, the safe side for Lambda.
pub fn demand_ahead(values: &[f64]) -> Option<f64> {
    let highest = values.iter().copied().reduce(f64::max)?;
    let ahead = match values {
        [.., before, last] => 2.0 * last - before,
        _ => highest,
    };
    Some(highest.max(ahead))
}

/// How a query's value depends on the metrics: a constant, or linear in them with no
/// constant term. A metric plus a constant, a product of two metrics or a division by one
/// is neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Degree {
    Constant,
    Linear,
}

/// The degree of the query `id`, following expressions through other queries' ids.
fn degree(queries: &[MathQuery], id: &str, depth: usize) -> Option<Degree> {
    let query = queries.iter().find(|q| q.id == id)?;
    match (&query.metric, &query.expression) {
        (Some(_), None) => Some(Degree::Linear),
        (None, Some(text)) if depth < queries.len() => {
            let mut parser = Parser {
                tokens: tokens(text)?,
                at: 0,
                lookup: &|id: &str| degree(queries, id, depth + 1),
            };
            let d = parser.sum()?;
            (parser.at == parser.tokens.len()).then_some(d)
        }
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number,
    Name(String),
    Op(char),
}

fn tokens(text: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_digit() || c == '.' {
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                chars.next();
            }
            out.push(Token::Number);
        } else if c.is_ascii_alphabetic() {
            let mut name = String::new();
            while let Some(&c) = chars
                .peek()
                .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
            {
                name.push(c);
                chars.next();
            }
            out.push(Token::Name(name));
        } else if "+-*/(),".contains(c) {
            out.push(Token::Op(c));
            chars.next();
        } else {
            return None;
        }
    }
    Some(out)
}

/// A recursive descent over the tokens, giving each part its [`Degree`].
struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    lookup: &'a dyn Fn(&str) -> Option<Degree>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn take_op(&mut self, op: char) -> Option<()> {
        (self.peek() == Some(&Token::Op(op))).then(|| self.at += 1)
    }

    /// Terms added or subtracted: all of one degree.
    fn sum(&mut self) -> Option<Degree> {
        let first = self.product()?;
        while let Some(Token::Op(op @ ('+' | '-'))) = self.peek().cloned() {
            self.take_op(op)?;
            if self.product()? != first {
                return None;
            }
        }
        Some(first)
    }

    /// Factors multiplied or divided: at most one of them a metric, and never a divisor.
    fn product(&mut self) -> Option<Degree> {
        let mut d = self.factor()?;
        while let Some(Token::Op(op @ ('*' | '/'))) = self.peek().cloned() {
            self.take_op(op)?;
            let rhs = self.factor()?;
            d = match (op, d, rhs) {
                (_, Degree::Constant, Degree::Constant) => Degree::Constant,
                ('*', Degree::Constant, Degree::Linear) | (_, Degree::Linear, Degree::Constant) => {
                    Degree::Linear
                }
                _ => return None,
            };
        }
        Some(d)
    }

    fn factor(&mut self) -> Option<Degree> {
        match self.peek()?.clone() {
            Token::Op('-') => {
                self.at += 1;
                self.factor()
            }
            Token::Op('(') => {
                self.at += 1;
                let d = self.sum()?;
                self.take_op(')')?;
                Some(d)
            }
            Token::Number => {
                self.at += 1;
                Some(Degree::Constant)
            }
            Token::Name(name) if name == "FILL" => {
                self.at += 1;
                self.take_op('(')?;
                let d = self.sum()?;
                self.take_op(',')?;
                (self.sum()? == Degree::Constant).then_some(())?;
                self.take_op(')')?;
                Some(d)
            }
            Token::Name(name) if name.starts_with(|c: char| c.is_ascii_lowercase()) => {
                self.at += 1;
                (self.lookup)(&name)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAMBDA: &str = "targetgroup/lambda/1";
    const ECS: &str = "targetgroup/ecs/2";

    fn metric(namespace: &str, name: &str, group: Option<&str>) -> MetricRef {
        MetricRef {
            namespace: namespace.into(),
            name: name.into(),
            dimensions: group
                .map(|g| ("TargetGroup".to_string(), g.to_string()))
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn demand_over_both_target_groups_or_the_load_balancer_is_blind_to_the_split() {
        let both = [
            metric("AWS/ApplicationELB", "RequestCount", Some(LAMBDA)),
            metric("AWS/ApplicationELB", "RequestCount", Some(ECS)),
        ];
        assert_eq!(sight(Some(&both), LAMBDA, ECS), Sight::Blind);
        let load_balancer = [metric("AWS/ApplicationELB", "RequestCount", None)];
        assert_eq!(sight(Some(&load_balancer), LAMBDA, ECS), Sight::Blind);
    }

    #[test]
    fn lambda_metrics_one_target_group_custom_metrics_and_composites_see_it() {
        let table: [(Option<Vec<MetricRef>>, &str); 6] = [
            (
                Some(vec![metric("AWS/Lambda", "ConcurrentExecutions", None)]),
                "AWS/Lambda",
            ),
            (
                Some(vec![metric(
                    "AWS/ApplicationELB",
                    "RequestCount",
                    Some(LAMBDA),
                )]),
                "one side",
            ),
            (
                Some(vec![metric(
                    "AWS/ApplicationELB",
                    "RequestCount",
                    Some(ECS),
                )]),
                "one side",
            ),
            (
                Some(vec![
                    metric("AWS/ApplicationELB", "RequestCount", Some(LAMBDA)),
                    metric("AWS/ApplicationELB", "RequestCount", Some(ECS)),
                    metric("AWS/Lambda", "Throttles", None),
                ]),
                "AWS/Lambda",
            ),
            (Some(vec![metric("MyApp", "QueueDepth", None)]), "MyApp"),
            (None, "composite"),
        ];
        for (metrics, why) in table {
            match sight(metrics.as_deref(), LAMBDA, ECS) {
                Sight::Sees(text) => assert!(text.contains(why), "{text} / {why}"),
                Sight::Blind => panic!("{metrics:?} is not blind"),
            }
        }
        assert!(matches!(sight(Some(&[]), LAMBDA, ECS), Sight::Sees(_)));
    }

    #[test]
    fn only_lambda_concurrency_above_a_threshold_can_be_carried_to_another_split() {
        let concurrency = metric("AWS/Lambda", "ConcurrentExecutions", None);
        let above = Some("GreaterThanOrEqualToThreshold");
        let p = projectable(&concurrency, Some("Maximum"), above, Some(90.0)).unwrap();
        assert_eq!((p.stat.as_str(), p.threshold), ("Maximum", 90.0));
        let table = [
            (
                metric("AWS/Lambda", "Throttles", None),
                Some("Maximum"),
                above,
                Some(1.0),
            ),
            (
                metric("AWS/Lambda", "Invocations", None),
                Some("Sum"),
                above,
                Some(90.0),
            ),
            (concurrency.clone(), Some("p99"), above, Some(90.0)),
            (concurrency.clone(), None, above, Some(90.0)),
            (
                concurrency.clone(),
                Some("Maximum"),
                Some("LessThanThreshold"),
                Some(90.0),
            ),
            (concurrency.clone(), Some("Maximum"), above, Some(0.0)),
            (concurrency.clone(), Some("Maximum"), above, None),
        ];
        for (m, stat, comparison, threshold) in table {
            assert_eq!(
                projectable(&m, stat, comparison, threshold),
                None,
                "{m:?} {stat:?} {comparison:?} {threshold:?}"
            );
        }
    }

    #[test]
    fn a_load_is_carried_in_proportion_to_lambdas_share() {
        // 70 of a 90 threshold at 50 %: all of it on Lambda reads 140, 1.56 thresholds.
        let all = carried(70.0 / 90.0, 50.0, 0.0).unwrap();
        assert!((all - 140.0 / 90.0).abs() < 1e-9, "{all}");
        assert_eq!(carried(0.5, 75.0, 50.0), Some(1.0));
        assert_eq!(
            carried(0.5, 100.0, 50.0),
            None,
            "Lambda had nothing to measure"
        );
        assert_eq!(carried(0.0, 50.0, 0.0), Some(0.0));
    }

    fn stat(id: &str, group: &str, name: &str, stat: &str) -> MathQuery {
        MathQuery {
            id: id.into(),
            metric: Some((metric("AWS/ApplicationELB", name, Some(group)), stat.into())),
            expression: None,
            returned: false,
        }
    }

    fn expression(id: &str, text: &str, returned: bool) -> MathQuery {
        MathQuery {
            id: id.into(),
            metric: None,
            expression: Some(text.into()),
            returned,
        }
    }

    fn demand_alarm(text: &str) -> Vec<MathQuery> {
        vec![
            stat("m1", LAMBDA, "RequestCount", "Sum"),
            stat("m2", ECS, "RequestCount", "Sum"),
            expression("e1", text, true),
        ]
    }

    #[test]
    fn an_alarm_reads_demand_when_it_evaluates_requests_in_proportion() {
        let above = Some("GreaterThanOrEqualToThreshold");
        let yes = [
            "(FILL(m1, 0) + FILL(m2, 0)) * 0.5 / 60",
            "m1 + m2",
            "0.5 * (m1 + m2) / 60",
            "-(-m1 - m2)",
            "FILL(m1, 0)+FILL(m2,0)",
        ];
        for text in yes {
            assert!(
                reads_demand(&demand_alarm(text), above, Some(90.0)),
                "{text}"
            );
        }
        let no = [
            "m1 / m2",
            "m1 * m2",
            "m1 + 10",
            "100 / (m1 + m2)",
            "RATE(m1)",
            "m1 + m3",
            "(m1 + m2",
            "m1 + m2)",
            "m1 $ m2",
            "FILL(m1, m2)",
            "10",
        ];
        for text in no {
            assert!(
                !reads_demand(&demand_alarm(text), above, Some(90.0)),
                "{text}"
            );
        }
        // An expression over another expression.
        let mut chained = demand_alarm("e0 / 60");
        chained.push(expression("e0", "(m1 + m2) * 0.5", false));
        assert!(reads_demand(&chained, above, Some(90.0)));
        // A cycle is not a reading.
        let cycle = vec![expression("e1", "e2", true), expression("e2", "e1", false)];
        assert!(!reads_demand(&cycle, above, Some(90.0)));
        // The load balancer's RequestCount as a single metric.
        let single = vec![MathQuery {
            returned: true,
            ..stat("m", "", "RequestCount", "Sum")
        }];
        assert!(reads_demand(
            &single,
            Some("GreaterThanThreshold"),
            Some(1000.0)
        ));
        // Not requests, not a sum, not above a positive threshold, not one evaluated query.
        let latency = vec![MathQuery {
            returned: true,
            ..stat("m", "", "TargetResponseTime", "Sum")
        }];
        assert!(!reads_demand(&latency, above, Some(1.0)));
        let average = vec![MathQuery {
            returned: true,
            ..stat("m", "", "RequestCount", "Average")
        }];
        assert!(!reads_demand(&average, above, Some(1.0)));
        let text = "m1 + m2";
        assert!(!reads_demand(
            &demand_alarm(text),
            Some("LessThanThreshold"),
            Some(90.0)
        ));
        assert!(!reads_demand(&demand_alarm(text), above, Some(0.0)));
        assert!(!reads_demand(&demand_alarm(text), above, None));
        let mut two = demand_alarm(text);
        two[0].returned = true;
        assert!(!reads_demand(&two, above, Some(90.0)));
    }

    #[test]
    fn a_rising_demand_is_read_one_period_ahead_a_falling_one_at_its_highest() {
        assert_eq!(demand_ahead(&[71.0, 174.0]), Some(277.0));
        assert_eq!(demand_ahead(&[250.0, 250.0, 250.0]), Some(250.0));
        assert_eq!(demand_ahead(&[300.0, 200.0, 150.0]), Some(300.0));
        assert_eq!(demand_ahead(&[120.0]), Some(120.0));
        assert_eq!(demand_ahead(&[]), None);
    }

    #[test]
    fn the_excess_is_what_lambda_should_not_carry_rounded_up() {
        // 500 requests/s as 250 concurrency against a threshold of 90: Lambda keeps 36 %.
        assert_eq!(excess_percent(250.0 / 90.0), Some(64));
        assert_eq!(excess_percent(5.0), Some(80));
        assert_eq!(excess_percent(1.001), Some(1));
        assert_eq!(excess_percent(1000.0), Some(100));
        assert_eq!(excess_percent(1.0), None);
        assert_eq!(excess_percent(0.5), None);
        assert_eq!(excess_percent(f64::NAN), None);
        assert_eq!(excess_percent(f64::INFINITY), None);
    }
}
