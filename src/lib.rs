//! spillover: moves web traffic from a Lambda function to an ECS Fargate service while a
//! CloudWatch alarm fires, and back when it clears.
//!
//! The loop: parse the [`trigger`], observe the world through the [`aws`] adapters,
//! [`decide`] (pure), act through the adapters with the bounded [`poller`], and [`report`].

pub mod aws;
pub mod check;
pub mod cli;
pub mod config;
pub mod controller;
pub mod decide;
pub mod error;
pub mod lambda;
pub mod logging;
pub mod marks;
pub mod metrics;
pub mod notify;
pub mod observed;
pub mod poller;
pub mod report;
pub mod target;
pub mod trigger;

pub use error::{Error, Result};
