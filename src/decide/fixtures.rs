//! Observed states for the decision's tests, built from a few named starting points.

use crate::observed::{AlarmState, Drain, Marks, Observed, Scalable, Weights};

/// Long enough ago for every hold in the test config.
pub const LONG_AGO: f64 = 3600.0;

impl Observed {
    /// Traffic on Lambda, service at 0, alarm OK for long, nothing recorded.
    pub fn idle() -> Self {
        Observed {
            alarm: AlarmState::Ok,
            alarm_age_secs: Some(LONG_AGO),
            alarms_blind: false,
            warm: None,
            warm_age_secs: None,
            weights: Weights::ON_LAMBDA,
            desired: 0,
            running: 0,
            healthy: 0,
            sticky_secs: 0,
            scalable: None,
            marks: Marks::default(),
            drain: None,
            split_load: None,
            split_settles_in_secs: None,
            demand_load: None,
            demand_unsettled: false,
            alarm_silent_secs: None,
            alarm_breach_read: None,
        }
    }

    /// Service scaled out, tasks starting, traffic still on Lambda, alarm firing.
    pub fn scaling() -> Self {
        Observed {
            alarm: AlarmState::Alarm,
            desired: 2,
            ..Self::idle()
        }
    }

    /// All traffic on ECS with two healthy tasks, shifted long ago.
    pub fn spilled() -> Self {
        Observed {
            alarm: AlarmState::Alarm,
            weights: Weights { lambda: 0, ecs: 1 },
            desired: 2,
            running: 2,
            healthy: 2,
            marks: Marks {
                shifted_secs_ago: Some(LONG_AGO),
                stepped_secs_ago: Some(LONG_AGO),
                ..Marks::default()
            },
            ..Self::idle()
        }
    }

    /// Weights back on Lambda long ago but the service still up: a return halfway.
    pub fn half_returned() -> Self {
        Observed {
            alarm: AlarmState::Ok,
            weights: Weights::ON_LAMBDA,
            marks: Marks {
                returned_secs_ago: Some(LONG_AGO),
                ..Self::spilled().marks
            },
            ..Self::spilled()
        }
    }

    /// Every spill alarm measures demand the split cannot change.
    pub fn blind(self) -> Self {
        Observed {
            alarms_blind: true,
            ..self
        }
    }

    pub fn with_alarm(self, alarm: AlarmState) -> Self {
        Observed { alarm, ..self }
    }

    /// The alarms have been in their state for `secs`.
    pub fn with_alarm_age(self, secs: f64) -> Self {
        Observed {
            alarm_age_secs: Some(secs),
            ..self
        }
    }

    pub fn with_warm(self, warm: AlarmState, age_secs: f64) -> Self {
        Observed {
            warm: Some(warm),
            warm_age_secs: Some(age_secs),
            ..self
        }
    }

    pub fn with_healthy(self, healthy: u32) -> Self {
        Observed { healthy, ..self }
    }

    pub fn with_running(self, running: u32) -> Self {
        Observed { running, ..self }
    }

    pub fn with_weights(self, lambda: i32, ecs: i32) -> Self {
        Observed {
            weights: Weights { lambda, ecs },
            ..self
        }
    }

    pub fn with_desired(self, desired: i32) -> Self {
        Observed { desired, ..self }
    }

    pub fn with_sticky(self, sticky_secs: u32) -> Self {
        Observed {
            sticky_secs,
            ..self
        }
    }

    /// The service is a scalable target with this minimum and maximum.
    pub fn with_scalable(self, min: i32, max: i32) -> Self {
        Observed {
            scalable: Some(Scalable { min, max }),
            ..self
        }
    }

    pub fn with_marks(self, marks: Marks) -> Self {
        Observed { marks, ..self }
    }

    pub fn shifted_ago(self, secs: f64) -> Self {
        let marks = Marks {
            shifted_secs_ago: Some(secs),
            stepped_secs_ago: Some(secs),
            ..self.marks
        };
        self.with_marks(marks)
    }

    pub fn with_split_load(self, load: f64) -> Self {
        Observed {
            split_load: Some(load),
            ..self
        }
    }

    /// The split reading has no settled period since the last weight change; one will
    /// have in `secs`.
    pub fn with_split_unsettled(self, secs: f64) -> Self {
        Observed {
            split_settles_in_secs: Some(secs),
            ..self
        }
    }

    /// The blind alarms read the demand, but none has a settled period.
    pub fn with_demand_unsettled(self) -> Self {
        Observed {
            demand_load: None,
            demand_unsettled: true,
            ..self.blind()
        }
    }

    pub fn stepped_ago(self, secs: f64) -> Self {
        let marks = Marks {
            stepped_secs_ago: Some(secs),
            ..self.marks
        };
        self.with_marks(marks)
    }

    pub fn returned_ago(self, secs: f64) -> Self {
        let marks = Marks {
            returned_secs_ago: Some(secs),
            stepped_secs_ago: Some(secs),
            ..self.marks
        };
        self.with_marks(marks)
    }

    /// The blind alarms read the demand at `load` times their threshold.
    pub fn with_silence(self, secs: f64) -> Self {
        Observed {
            alarm_silent_secs: Some(secs),
            ..self
        }
    }

    /// Whether the spill alarms' metric has read a breaching datapoint lately.
    pub fn breach_read(self, read: bool) -> Self {
        Observed {
            alarm_breach_read: Some(read),
            ..self
        }
    }

    pub fn with_demand_load(self, load: f64) -> Self {
        Observed {
            demand_load: Some(load),
            ..self.blind()
        }
    }

    pub fn with_saved_min(self, min: i32) -> Self {
        let marks = Marks {
            saved_min_capacity: Some(min),
            ..self.marks
        };
        self.with_marks(marks)
    }

    /// Traffic has left ECS: no requests over the window, a 300 s deregistration delay.
    pub fn drained(self) -> Self {
        self.with_drain(0.0, 300.0)
    }

    pub fn with_drain(self, requests: f64, deregistration_delay_secs: f64) -> Self {
        Observed {
            drain: Some(Drain {
                deregistration_delay_secs,
                requests,
                window_secs: 60.0,
            }),
            ..self
        }
    }
}
