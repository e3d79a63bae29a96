//! The decision over observed states: tables of behaviours, a file for each family of
//! rules (`events`, `hold`, `steps`, `prewarm`, `auto_scaling`, `scale_in`, `old_rules`),
//! then the safety grid and the "never stuck" convergence check (`grid`). The helpers
//! here are shared by all of them.

use super::fixtures::LONG_AGO;
use super::*;
use crate::config::Config;
use crate::config::tests::{test_config, test_config_with};
use crate::observed::AlarmState::{self, *};
use crate::observed::{Drain, Marks, is_ready};
use Step::*;

const ON_ECS: Weights = Weights { lambda: 0, ecs: 1 };
const HALF: Weights = Weights { lambda: 1, ecs: 1 };
const ON_LAMBDA: Weights = Weights::ON_LAMBDA;

fn tick() -> Trigger {
    Trigger::Tick { event_id: None }
}

fn event(text: &str) -> Trigger {
    Trigger::parse(text, &test_config()).expect("recorded event parses")
}

/// All or nothing, as before progressive steps.
fn all_or_nothing() -> Config {
    test_config_with(&[("SPILLOVER_STEPS", "100")])
}

fn plan_with(config: &Config, observed: &Observed) -> Plan {
    decide(&tick(), observed, config)
}

fn steps(observed: Observed) -> Vec<Step> {
    plan_with(&test_config(), &observed).steps
}

const SPILL_FROM_IDLE: [Step; 3] = [
    ScaleOut { from: 0, to: 2 },
    WaitUntilReady { min_healthy: 1 },
    SetWeights {
        from: ON_LAMBDA,
        to: ON_ECS,
    },
];

mod auto_scaling;
mod events;
mod grid;
mod hold;
mod old_rules;
mod prewarm;
mod scale_in;
mod steps;
