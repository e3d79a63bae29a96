//! spillover's records on the ECS service: tags that say when traffic last moved and what
//! the scalable target's minimum was before a spill raised it.
//!
//! They live in AWS, not in the function, so that a cold start, a retry or a second copy of
//! the controller sees the same history, and so that the time of a shift is never guessed
//! from the alarm's age.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::observed::{Marks, Weights};

/// One record, and the tag key that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// ECS got weight from 0: the spill began.
    ShiftedAt,
    /// ECS went back to weight 0: the return.
    ReturnedAt,
    /// Any weight change.
    SteppedAt,
    /// The scalable target's `MinCapacity` before spillover raised it.
    SavedMinCapacity,
    /// How many times the weights changed since the spill began (see [`moves_after`]).
    Moves,
}

impl Mark {
    pub fn key(self) -> &'static str {
        match self {
            Mark::ShiftedAt => "spillover:shifted-at",
            Mark::ReturnedAt => "spillover:returned-at",
            Mark::SteppedAt => "spillover:stepped-at",
            Mark::SavedMinCapacity => "spillover:saved-min-capacity",
            Mark::Moves => "spillover:moves",
        }
    }
}

/// The time marks a weight change from `from` to `to` sets.
pub fn for_weights(from: Weights, to: Weights) -> Vec<Mark> {
    match (from.ecs > 0, to.ecs > 0) {
        (false, true) => vec![Mark::ShiftedAt, Mark::SteppedAt],
        (true, false) => vec![Mark::ReturnedAt, Mark::SteppedAt],
        _ => vec![Mark::SteppedAt],
    }
}

/// The weight changes of the spill after one from `from` to `to`, when `before` were made:
/// the shift is the first, the return ends the count. It bounds the stops only the excess
/// makes (`decide::traffic`): the weights change at most twice per step.
pub fn moves_after(from: Weights, to: Weights, before: Option<u32>) -> u32 {
    match (from.ecs > 0, to.ecs > 0) {
        (_, false) => 0,
        (false, true) => 1,
        (true, true) => before.unwrap_or(0).saturating_add(1),
    }
}

/// A time as a tag value: seconds since the Unix epoch with milliseconds (`1732291200.125`).
/// ECS tag values allow digits and `.`.
pub fn time_value(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", since.as_secs(), since.subsec_millis())
}

/// Reads the marks from the service's tags, as ages relative to `now`. A tag that does not
/// parse is ignored (as if absent), so a hand-edited tag cannot stop the loop.
pub fn parse(tags: &HashMap<String, String>, now: SystemTime) -> Marks {
    let age = |mark: Mark| {
        let secs: f64 = tags.get(mark.key())?.trim().parse().ok()?;
        let at = UNIX_EPOCH + Duration::try_from_secs_f64(secs).ok()?;
        Some(
            now.duration_since(at)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
        )
    };
    Marks {
        shifted_secs_ago: age(Mark::ShiftedAt),
        returned_secs_ago: age(Mark::ReturnedAt),
        stepped_secs_ago: age(Mark::SteppedAt),
        saved_min_capacity: tags
            .get(Mark::SavedMinCapacity.key())
            .and_then(|v| v.trim().parse().ok()),
        moves: tags
            .get(Mark::Moves.key())
            .and_then(|v| v.trim().parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON_ECS: Weights = Weights { lambda: 0, ecs: 1 };
    const HALF: Weights = Weights { lambda: 1, ecs: 1 };

    #[test]
    fn a_shift_a_step_and_a_return_set_their_marks() {
        assert_eq!(
            for_weights(Weights::ON_LAMBDA, HALF),
            [Mark::ShiftedAt, Mark::SteppedAt]
        );
        assert_eq!(for_weights(HALF, ON_ECS), [Mark::SteppedAt]);
        assert_eq!(
            for_weights(ON_ECS, Weights::ON_LAMBDA),
            [Mark::ReturnedAt, Mark::SteppedAt]
        );
    }

    #[test]
    fn the_moves_of_a_spill_count_from_the_shift_and_end_at_the_return() {
        let third = Weights { lambda: 2, ecs: 1 };
        assert_eq!(moves_after(Weights::ON_LAMBDA, third, Some(7)), 1);
        assert_eq!(moves_after(third, HALF, Some(1)), 2);
        assert_eq!(moves_after(HALF, ON_ECS, None), 1);
        assert_eq!(moves_after(ON_ECS, Weights::ON_LAMBDA, Some(3)), 0);
        let tags = HashMap::from([(Mark::Moves.key().to_string(), "2".to_string())]);
        assert_eq!(parse(&tags, UNIX_EPOCH).moves, Some(2));
    }

    #[test]
    fn marks_round_trip_through_tag_values_as_ages() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_100_500);
        let tags = HashMap::from([
            (
                Mark::ShiftedAt.key().to_string(),
                time_value(now - Duration::from_millis(90_250)),
            ),
            (Mark::SteppedAt.key().to_string(), "garbage".to_string()),
            (Mark::SavedMinCapacity.key().to_string(), "1".to_string()),
            (
                Mark::ReturnedAt.key().to_string(),
                time_value(now + Duration::from_secs(5)),
            ),
        ]);
        let marks = parse(&tags, now);
        assert_eq!(marks.shifted_secs_ago, Some(90.25));
        assert_eq!(marks.stepped_secs_ago, None, "unparsable tags are ignored");
        assert_eq!(marks.saved_min_capacity, Some(1));
        assert_eq!(
            marks.returned_secs_ago,
            Some(0.0),
            "a clock running behind reads as now"
        );
    }
}
