//! The SDK edge, tested with `aws-smithy-mocks`: a small in-memory world answers the
//! calls, so these tests see exactly which requests go out and in what order.

#[macro_use]
mod fake;
mod world;

mod errors_and_refusals;
mod policy;
mod spill_and_return;
mod wait;
