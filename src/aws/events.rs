//! EventBridge: puts spillover's notification on the configured bus.

use std::sync::Arc;

use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::Calls;
use crate::error::{Error, Result};
use crate::notify::{Event, SOURCE};

pub struct Events {
    client: aws_sdk_eventbridge::Client,
    /// A bus name (`default`) or ARN.
    bus: String,
    calls: Arc<Calls>,
}

impl Events {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String, calls: Arc<Calls>) -> Self {
        Events { client, bus, calls }
    }

    /// Puts one event (`PutEvents` with one entry).
    pub async fn put(&self, event: &Event) -> Result<()> {
        self.calls.write();
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(event.detail_type)
            .detail(event.detail.to_string())
            .set_resources(Some(event.resources.clone()))
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| Error::aws("events:PutEvents", e))?;
        entry_result(&out)
    }
}

/// PutEvents succeeds as a call even when an entry was not accepted: "if an individual
/// entry within a request fails, EventBridge continues processing the rest", and
/// "unsuccessful result entries include ErrorCode and ErrorMessage values", counted in
/// `FailedEntryCount` (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevents.html>).
fn entry_result(out: &PutEventsOutput) -> Result<()> {
    if out.failed_entry_count() == 0 {
        return Ok(());
    }
    let why = out
        .entries()
        .iter()
        .filter(|e| e.error_code().is_some())
        .map(|e| {
            format!(
                "{}: {}",
                e.error_code().unwrap_or_default(),
                e.error_message().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(Error::Aws {
        operation: "events:PutEvents",
        message: format!("the bus did not accept the event ({why})"),
        // PutEvents reports a failed entry inside a 200; whether it is worth retrying
        // does not matter here: a notification is never retried.
        transient: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;

    #[test]
    fn a_failed_entry_in_a_200_answer_is_an_error() {
        let out = PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(
                PutEventsResultEntry::builder()
                    .error_code("InternalFailure")
                    .error_message("try again")
                    .build(),
            )
            .build();
        let err = entry_result(&out).unwrap_err().to_string();
        assert!(err.contains("InternalFailure: try again"), "{err}");

        let ok = PutEventsOutput::builder()
            .entries(PutEventsResultEntry::builder().event_id("1").build())
            .build();
        assert!(entry_result(&ok).is_ok());
    }
}
