//! Built-in notifications, for bureaus that run no Alertmanager (docs/notifications.md):
//! incidents as the cockpit shows them (root cause named, hosts behind it listed, nothing
//! inside a maintenance window) sent when they open and when they close, to webhooks (JSON)
//! and by e-mail through an SMTP relay, retried, and recorded in an outbox on disk.
//!
//! `incidents.rs` decides what opened and closed (pure), `message.rs` what it says (pure),
//! `outbox.rs` records events and attempts, `smtp.rs` and the webhook client deliver,
//! `notifier.rs` runs it. Only the lease holder notifies (as only it sees the deployment).

pub mod incidents;
pub mod message;
pub mod notifier;
pub mod outbox;
pub mod settings;
pub mod smtp;

pub use notifier::Notifier;
pub use settings::Notifications;
