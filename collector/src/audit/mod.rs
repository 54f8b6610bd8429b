//! The audit log (issue 16, `docs/security.md`): every security-relevant event, recorded
//! where it happens through one function per event ([`events`]), kept in the store as one
//! hash chain ([`chain`]) shared by every collector of a deployment, sealed with the
//! collectors' keys ([`seal`]), forwarded to syslog ([`syslog`]), kept `audit.retention`
//! and checked by `zerofault-collector audit verify`.
//!
//! Two ways to write: [`Audit::write`] waits until the record is committed (commands, and
//! the events a caller must not answer before they are recorded: enrollment, renewal,
//! revocation); [`Audit::record`] queues it for the writer task (events on hot paths). The
//! queue is bounded; a record that does not fit is counted and logged, never waited for.
//! Authentication failures are not recorded one by one: [`Audit::auth_failure`] counts them
//! per source address and reason, and the writer records the counts once a minute.

mod adjustments_check;
pub mod chain;
pub mod events;
mod log;
pub mod seal;
pub mod settings;
pub mod syslog;
pub mod verify;

pub use events::Event;
pub use log::{Audit, Writer, record_now};
