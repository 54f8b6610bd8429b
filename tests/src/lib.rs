//! Whole-system test harness of zerofault: runs the real `zerofault-collector` and
//! `zerofault-agent` binaries with real certificates, over real sockets.
//!
//! The pieces, in the order a test uses them:
//!
//! * [`TestCa`]: a certificate directory made by `zerofault-collector certs`, plus rustls client
//!   configurations for raw requests (with or without a client certificate).
//! * [`CollectorBuilder`] / [`Collector`]: a collector on free loopback ports with its SQLite
//!   file in a temporary directory, started and waited for (`/healthz`).
//! * [`AgentBuilder`] / [`Agent`]: an agent process with its labels and interval.
//! * [`scrape`] and [`Exposition`]: `/metrics` text and a small parser to find samples.
//! * [`wait_until`]: the only way tests wait; every wait has a deadline.
//! * [`browser::Browser`]: headless Chromium through chromedriver, for page tests (the
//!   collector's HTML cockpit): what a page shows, logs and requests, and screenshots.
//! * [`TestHost`]: a test host in a network namespace, with loss and outages injected there
//!   (needs root).
//! * [`container::Container`]: a minimal Debian booted with systemd (nspawn), where the
//!   packages built by [`packages`] are installed and run as services (needs root).
//! * Fault injection for delivery tests: [`Collector::kill9`] / [`Collector::restart`] (same
//!   ports and database), [`Agent::kill`] / [`Agent::restart`], a tiny filesystem
//!   ([`tmpfs::Tmpfs`], needs root), a fake agent clock ([`faketime`]); and what was stored,
//!   read from the collector's database ([`stored::Stored`]) and from the agent's spool
//!   ([`spool`]).
//!
//! Also the kit of the crates' own tests and benchmarks (it depends on the protocol only, so
//! a collector or agent test using it sees one copy of the crate under test):
//!
//! * [`month`]: the one generator of made-up SLA months, used by the collector's SLA ground
//!   truth and its SLA benchmark.
//! * [`golden`]: golden files compared byte for byte, rewritten with
//!   `ZEROFAULT_UPDATE_GOLDEN=1`.
//! * [`postgres::PgServer`]: a throwaway PostgreSQL server (initdb + pg_ctl in a temporary
//!   directory) for the PostgreSQL store's tests, one per test process, a database per test.
//! * [`pki::Pki`]: certificates made in-process (no binary needed), with TLS server and
//!   client configurations; [`report`] also makes the hand-made reports of the ingest tests.
//!
//! Every child process is killed when its handle is dropped, and every temporary directory is
//! removed then. When a test panics, the dropped handles print the child's stderr so the
//! failure explains itself.
#![forbid(unsafe_code)]

mod agent;
pub mod browser;
mod ca;
mod collector;
mod command;
pub mod configs;
pub mod container;
pub mod delivery;
pub mod exposition;
pub mod faketime;
pub mod golden;
mod harness;
pub mod month;
pub mod netns;
pub mod notify;
pub mod packages;
pub mod pki;
pub mod postgres;
mod process;
pub mod prometheus;
pub mod remote_write;
pub mod report;
pub mod spool;
pub mod stats;
pub mod stored;
pub mod tmpfs;

pub use agent::{Agent, AgentBuilder, LinkProbe, SpoolConfig};
pub use ca::{TestCa, http_client};
pub use collector::{Collector, CollectorBuilder, Fault, LinksConfig, scrape};
pub use exposition::{Exposition, Sample};
pub use harness::*;
pub use netns::TestHost;
pub use process::ChildGuard;
