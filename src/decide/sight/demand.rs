//! Alarms blind to the split that read the demand itself, and what their reading says:
//! the share only ECS can take (see [`reads_demand`]).

use std::time::{Duration, SystemTime};

use super::{MetricRef, above_threshold};
use crate::decide::settled::{self, Datapoint};

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
    above_threshold(comparison, threshold).is_some()
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

/// How many of an alarm's settled periods a demand reading looks back over.
pub const DEMAND_PERIODS: u32 = 3;

/// The demand a reading says, from its values over whole periods, oldest first: the
/// highest of them, or the last one carried one period further along its rise, whichever
/// is higher. A reading is a period's average, so under a rising demand the last one is
/// already behind; carried ahead, a ramp's excess is taken in one stop rather than two.
/// Under a falling or steady demand it is the highest, the safe side for Lambda.
pub fn demand_ahead(values: &[f64]) -> Option<f64> {
    demand_carried(values, 1.0)
}

/// [`demand_ahead`], with the last value carried `periods` periods (at least one) along its
/// rise from the one before.
pub fn demand_carried(values: &[f64], periods: f64) -> Option<f64> {
    let highest = values.iter().copied().reduce(f64::max)?;
    let ahead = match values {
        [.., before, last] => last + (last - before) * periods.max(1.0),
        _ => highest,
    };
    Some(highest.max(ahead))
}

/// One demand alarm's datapoints: the query it evaluates, in periods of `period`, and its
/// threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandData {
    pub points: Vec<Datapoint>,
    pub period: Duration,
    pub threshold: f64,
}

/// The demand the alarms read, as a share of their thresholds, the highest over the alarms.
///
/// The reading sizes a step that the alarm's ALARM already decided, and the only thing a
/// low reading does is make that step smaller (a stop at the excess, or none while ECS
/// carries it): so its trend comes from settled periods alone ([`demand_ahead`] over the
/// last [`DEMAND_PERIODS`] of them), and a partial period only raises it, as the lower
/// bound it is. A partial period never sizes a step on its own: `None` when an alarm has
/// no settled period at `horizon`, or when its settled trend is under its threshold (the
/// settled periods come from before the overload: an alarm in ALARM on newer periods
/// says the demand is over, and how far is not known yet), and the steps go as configured.
///
/// A query linear in `RequestCount` sums ([`reads_demand`]) is a lower bound in a partial
/// period as long as its coefficients are positive, as the recommended alarm's are.
pub fn demand_load(alarms: &[DemandData], horizon: SystemTime) -> Option<f64> {
    demand_load_at(alarms, horizon, horizon)
}

/// [`demand_load`] read at `now`: a settled trend is carried along its rise from its last
/// period to `now`, not one period only. The settled periods are the settle time behind
/// (3 minutes by default); under a ramp, a trend carried one period would read the demand of
/// minutes ago, and stop the step short of the excess while the ramp goes on (the late
/// world's ramp: 16 % held while 50 to 80 requests/s were throttled). Carried too far, a
/// step is larger than the excess: ECS serves a little more, nobody gets a 5xx.
pub fn demand_load_at(alarms: &[DemandData], horizon: SystemTime, now: SystemTime) -> Option<f64> {
    let mut highest: Option<f64> = None;
    for alarm in alarms {
        let (settled, partial) = settled::split(&alarm.points, alarm.period, horizon);
        let recent = settled.len().saturating_sub(DEMAND_PERIODS as usize);
        let values: Vec<f64> = settled[recent..].iter().map(|p| p.value).collect();
        // From the middle of the last settled period to now, in periods.
        let periods = settled.last().map_or(1.0, |last| {
            let middle = last.start + alarm.period / 2;
            now.duration_since(middle).unwrap_or_default().as_secs_f64()
                / alarm.period.as_secs_f64().max(1.0)
        });
        let ahead = demand_carried(&values, periods)?;
        if ahead < alarm.threshold {
            return None;
        }
        let value = partial.iter().map(|p| p.value).fold(ahead, f64::max);
        let load = value / alarm.threshold;
        highest = Some(highest.map_or(load, |h| h.max(load)));
    }
    highest
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
    use super::super::tests::{ECS, LAMBDA, metric};
    use super::*;

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

    fn horizon() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(10_000)
    }

    /// A demand alarm's datapoints in 60 s periods against a threshold of 90, each as
    /// `(seconds its period ended before the horizon, value)`: at 0 or more it has settled,
    /// below 0 it ended after the horizon, and is partial.
    fn data(points: &[(i64, f64)]) -> DemandData {
        let period = Duration::from_secs(60);
        DemandData {
            points: points
                .iter()
                .map(|&(before, value)| Datapoint {
                    start: horizon() - period - Duration::from_secs(before.max(0) as u64)
                        + Duration::from_secs(before.min(0).unsigned_abs()),
                    value,
                })
                .collect(),
            period,
            threshold: 90.0,
        }
    }

    #[test]
    fn a_demand_reading_takes_its_trend_from_settled_periods_and_partial_ones_as_floors() {
        let read = |points: &[(i64, f64)]| demand_load(&[data(points)], horizon());
        // Settled only: as before, the last carried one period along its rise.
        assert_eq!(read(&[(120, 180.0), (60, 270.0), (0, 270.0)]), Some(3.0));
        assert_eq!(read(&[(60, 180.0), (0, 270.0)]), Some(4.0));
        // Only the last three settled periods count.
        assert_eq!(
            read(&[(180, 900.0), (120, 90.0), (60, 90.0), (0, 90.0)]),
            Some(1.0)
        );
        // A partial period that reads low (a dip at the end) neither lowers the reading nor
        // bends its trend down: 2 × 60 − 270 would be under the threshold.
        assert_eq!(read(&[(60, 180.0), (0, 270.0), (-60, 60.0)]), Some(4.0));
        // One that reads high already raises it: a lower bound above is conclusive.
        assert_eq!(read(&[(60, 90.0), (0, 90.0), (-120, 450.0)]), Some(5.0));
        // No settled period: no reading, even with a partial one high.
        assert_eq!(read(&[(-1, 450.0), (-60, 450.0)]), None);
        assert_eq!(read(&[]), None);
        // The highest over the alarms; one of them without a settled period: none.
        let two = [data(&[(0, 180.0)]), data(&[(0, 90.0), (-30, 270.0)])];
        assert_eq!(demand_load(&two, horizon()), Some(3.0));
        let unsettled = [data(&[(0, 180.0)]), data(&[(-30, 270.0)])];
        assert_eq!(demand_load(&unsettled, horizon()), None);
    }

    #[test]
    fn a_rising_settled_trend_is_carried_to_now() {
        // Settled 180 then 270 (the last one began 240 s before `now`, its middle 210 s):
        // rising 90 a period, carried 3.5 periods to now: 585, 6.5 thresholds; read at the
        // horizon itself, one period: 360, 4.
        let points = data(&[(60, 180.0), (0, 270.0)]);
        let now = horizon() + Duration::from_secs(180);
        let load = demand_load_at(std::slice::from_ref(&points), horizon(), now).unwrap();
        assert!((load - 6.5).abs() < 1e-9, "{load}");
        assert_eq!(demand_load(&[points], horizon()), Some(4.0));
        // Falling or steady: the highest, however far.
        let falling = data(&[(60, 270.0), (0, 180.0)]);
        assert_eq!(demand_load_at(&[falling], horizon(), now), Some(3.0));
    }

    #[test]
    fn a_settled_trend_under_the_threshold_sizes_no_step() {
        // The alarm fired on periods that have not settled: the settled ones are from before
        // the spike (25 of a 90 threshold) and a partial one reads 123. How far over the
        // demand is, is not known yet: no reading (the steps go as configured), not 137 %.
        let read = |points: &[(i64, f64)]| demand_load(&[data(points)], horizon());
        assert_eq!(
            read(&[(120, 25.0), (60, 25.0), (0, 25.0), (-60, 123.0)]),
            None
        );
        // Once a settled period shows the overload, the reading sizes the step.
        let load = read(&[(60, 25.0), (0, 250.0), (-60, 123.0)]);
        assert!(load.is_some_and(|l| l >= 250.0 / 90.0), "{load:?}");
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
