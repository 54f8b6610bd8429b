//! Assembles one [`Report`]: the agent's own fields (identity, sequence, time, labels,
//! version) plus everything the probes fill.

pub mod settings;

use std::time::Duration;

use zerofault_common::now_unix_ms;
use zerofault_protocol::{Labels, PROTOCOL_VERSION, Report};

use crate::probe::Probes;
use crate::probe::interface_watch::InterfaceWatch;
use crate::probe::link::scheduler::LinkSet;
use crate::sequence::Sequence;

/// Makes reports for one configured agent.
#[derive(Debug)]
pub struct Reporter {
    agent_id: String,
    interval_ms: u32,
    labels: Labels,
    probes: Probes,
    sequence: Sequence,
    links: Option<LinkSet>,
    interfaces: Option<InterfaceWatch>,
}

impl Reporter {
    /// Starts the probes (the CPU probe takes its first sample now) for the agent `agent_id`
    /// collecting every `interval`.
    pub fn new(agent_id: &str, interval: Duration, labels: &Labels, sequence: Sequence) -> Self {
        Self {
            agent_id: agent_id.to_owned(),
            interval_ms: u32::try_from(interval.as_millis()).unwrap_or(u32::MAX),
            labels: labels.clone(),
            probes: Probes::new(),
            sequence,
            links: None,
            interfaces: None,
        }
    }

    /// Adds the continuously running sources: link probes and the interface watcher. Their
    /// results since the previous report go into every report from now on.
    pub fn with_continuous(mut self, links: LinkSet, interfaces: InterfaceWatch) -> Self {
        self.links = Some(links);
        self.interfaces = Some(interfaces);
        self
    }

    /// Names of the running probes.
    pub fn probe_names(&self) -> Vec<&'static str> {
        self.probes.names()
    }

    /// Collects one report, consuming one sequence number.
    pub fn collect(&mut self) -> Report {
        // A clock before 1970 reads as 0, which the collector refuses naming
        // `timestamp_unix_ms`.
        let now = now_unix_ms();
        let mut report = Report {
            protocol_version: PROTOCOL_VERSION,
            agent_id: self.agent_id.clone(),
            sequence: self.sequence.allocate(),
            timestamp_unix_ms: now,
            interval_ms: self.interval_ms,
            labels: Some(self.labels.clone()),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Report::default()
        };
        if let Some(links) = &mut self.links {
            report.links = links.drain(now);
        }
        if let Some(w) = &self.interfaces {
            report.interface_transitions = w.drain();
        }
        self.probes.collect(&mut report);
        report
    }
}
