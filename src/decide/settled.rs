//! Which CloudWatch periods are complete: the rules that read datapoints judge by them.
//!
//! CloudWatch is late. Data of the last minute "has not been fully aggregated", and a Sum
//! or SampleCount can show "a dip at the end of your graph"
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-live-data.html>);
//! a Lambda metric is stamped with the invocation's start and sent when it ends, which "can
//! be several minutes" later
//! (<https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html>). So a recent
//! period is *partial*: its Sum, SampleCount or Maximum (of a metric that is never
//! negative) is a lower bound of its final value, and a period with traffic may have no
//! datapoint yet. A period is *settled* once it ended `SPILLOVER_METRIC_SETTLE_SECS` ago
//! (CloudWatch gives no figure; the setting takes the cautious side).
//!
//! Hence the one rule every reading follows:
//! - a reading that acts because the load is high (spill, step up, a larger excess) may take
//!   partial periods as lower bounds: one already high is conclusive;
//! - a reading that acts because the load is low or absent (step back, return, scale in, an
//!   alarm on no data, a smaller excess) takes settled periods only. Without one covering
//!   what the rule needs, the rule holds and the next look comes at the next tick.

use std::time::{Duration, SystemTime};

/// One datapoint of a metric: the start of its period, which CloudWatch stamps it with,
/// and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    pub start: SystemTime,
    pub value: f64,
}

/// The settle horizon at `now`: a period that ended at or before it is settled.
pub fn horizon(now: SystemTime, settle: Duration) -> SystemTime {
    now.checked_sub(settle).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Whether the period of `period` that began at `start` has settled by `horizon`.
pub fn is_settled(start: SystemTime, period: Duration, horizon: SystemTime) -> bool {
    start + period <= horizon
}

/// `points` split into the settled ones and the partial ones, each oldest first.
pub fn split(
    points: &[Datapoint],
    period: Duration,
    horizon: SystemTime,
) -> (Vec<Datapoint>, Vec<Datapoint>) {
    let mut points = points.to_vec();
    points.sort_by_key(|p| p.start);
    points
        .into_iter()
        .partition(|p| is_settled(p.start, period, horizon))
}

/// How long a metric has had no datapoint, as far as settled periods can tell: from the end
/// of the last period that had one (or `since`, when none did) to the horizon; zero when a
/// datapoint came later, even in a partial period (the metric is not silent). A partial
/// period without a datapoint proves no silence: its datapoint may be on its way.
pub fn silence(
    starts: &[SystemTime],
    period: Duration,
    since: SystemTime,
    horizon: SystemTime,
) -> Duration {
    let last = starts.iter().max().map_or(since, |&start| start + period);
    horizon.duration_since(last).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_period_settles_the_settle_time_after_it_ends() {
        let now = at(10_000);
        let h = horizon(now, Duration::from_secs(180));
        assert_eq!(h, at(9_820));
        // Ended 180 s ago: settled; 179 s ago: partial; still being filled: partial.
        assert!(is_settled(at(9_760), MINUTE, h));
        assert!(!is_settled(at(9_761), MINUTE, h));
        assert!(!is_settled(at(9_990), MINUTE, h));
        // No settle time: every period that ended.
        let h = horizon(now, Duration::ZERO);
        assert!(is_settled(at(9_940), MINUTE, h));
        assert!(!is_settled(at(9_941), MINUTE, h));
    }

    #[test]
    fn points_split_into_settled_and_partial_oldest_first() {
        let point = |start, value| Datapoint {
            start: at(start),
            value,
        };
        let points = [
            point(9_940, 1.0),
            point(9_700, 5.0),
            point(9_760, 6.0),
            point(9_820, 2.0),
        ];
        let (settled, partial) = split(&points, MINUTE, at(9_820));
        assert_eq!(settled, [point(9_700, 5.0), point(9_760, 6.0)]);
        assert_eq!(partial, [point(9_820, 2.0), point(9_940, 1.0)]);
    }

    #[test]
    fn silence_counts_only_up_to_the_horizon() {
        let since = at(9_400);
        let h = at(9_820);
        // The last datapoint's period ended at 9_500: silent 320 s up to the horizon.
        assert_eq!(
            silence(&[at(9_400), at(9_440)], MINUTE, since, h),
            Duration::from_secs(320)
        );
        // None at all: from `since`.
        assert_eq!(silence(&[], MINUTE, since, h), Duration::from_secs(420));
        // One in a partial period: not silent, whatever came before.
        assert_eq!(
            silence(&[at(9_400), at(9_900)], MINUTE, since, h),
            Duration::ZERO
        );
        // One in the period that ends at the horizon.
        assert_eq!(silence(&[at(9_760)], MINUTE, since, h), Duration::ZERO);
    }
}
