//! The audit log's hash chain, pure: no store, no clock, no I/O.
//!
//! Each record carries the hash of the record before it and its own hash, computed over its
//! place (`seq`, the previous hash) and every field it says, each length-prefixed so that
//! no two different records hash the same bytes. Changing a field changes the record's hash;
//! deleting a record leaves a gap in `seq` and a `prev` that names no record; moving a record
//! breaks both its own hash (its `seq` is hashed) and the next record's `prev`. What the
//! chain alone cannot show is the newest records being deleted (the chain just looks
//! shorter): seals (`seal.rs`) and the outside anchor (syslog) are for that.
//!
//! Retention deletes the oldest records; the transaction that deletes them appends a
//! [`RETENTION_EVENT`] record naming the last deleted record and its hash, so that a chain
//! that starts later than record 1 is accepted only where a retention record says it may.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

/// `prev` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The event of a seal record (`seal.rs`).
pub const SEAL_EVENT: &str = "audit.seal";

/// The `through_seq` of a seal's details (the record it covers), if they hold one.
pub fn seal_through_seq(details: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Through {
        through_seq: u64,
    }
    serde_json::from_str::<Through>(details)
        .ok()
        .map(|d| d.through_seq)
}

/// The event of the record retention appends when it deletes old records.
pub const RETENTION_EVENT: &str = "audit.retention";

/// How many of the newest hashes verification keeps, for the seals to be checked against: a
/// seal names a head read just before it was appended, a few records back at most.
pub const SEAL_REACH: usize = 4096;

/// The hash function of a record (`audit.hash`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    /// SHA-256 (FIPS 180-4): the default.
    #[default]
    Sha256,
    /// SM3 (GB/T 32905-2016), for sites assessed under GB/T 39786-2021.
    Sm3,
}

impl HashAlg {
    /// The name stored with each record.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sm3 => "sm3",
        }
    }

    /// The algorithm named `s`, as stored.
    pub fn parse(s: &str) -> Option<HashAlg> {
        match s {
            "sha256" => Some(HashAlg::Sha256),
            "sm3" => Some(HashAlg::Sm3),
            _ => None,
        }
    }

    /// The digest of `bytes`, in lower-case hex (64 digits for both).
    pub fn digest_hex(self, bytes: &[u8]) -> String {
        match self {
            HashAlg::Sha256 => hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes)),
            HashAlg::Sm3 => {
                use sm3::Digest;
                hex::encode(sm3::Sm3::digest(bytes))
            }
        }
    }
}

/// What a record says: everything but its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When it happened, ms since the Unix epoch (the writer's clock).
    pub at_ms: i64,
    /// The collector instance (or command) that wrote the record.
    pub instance: String,
    /// Who acted: `agent:ID`, `operator:USER` (the OS user of a command), `user:NAME` (an
    /// HTTP user), `collector` (the collector itself).
    pub actor: String,
    /// Where from: the peer address, or `local` for a command on the collector's host.
    pub source: String,
    /// What happened, e.g. `cert.revoke` (`docs/security.md` lists them).
    pub event: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// The event's details, a JSON object.
    pub details: String,
}

/// A record in the chain, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Place in the chain, from 1, without gaps.
    pub seq: u64,
    /// What it says.
    #[serde(flatten)]
    pub entry: Entry,
    /// The hash function of `hash`.
    pub alg: HashAlg,
    /// The previous record's hash ([`GENESIS`] for record 1).
    pub prev: String,
    /// This record's hash.
    pub hash: String,
}

/// The hash of a record at `seq` after `prev` saying `entry`.
pub fn hash(alg: HashAlg, seq: u64, prev: &str, entry: &Entry) -> String {
    let mut bytes = Vec::with_capacity(128 + entry.details.len());
    bytes.extend_from_slice(b"zerofault-audit-v1\0");
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&entry.at_ms.to_be_bytes());
    for field in [
        prev,
        alg.as_str(),
        &entry.instance,
        &entry.actor,
        &entry.source,
        &entry.event,
        &entry.outcome,
        &entry.details,
    ] {
        bytes.extend_from_slice(&(field.len() as u64).to_be_bytes());
        bytes.extend_from_slice(field.as_bytes());
    }
    alg.digest_hex(&bytes)
}

/// The record that follows `head` (`(seq, hash)` of the newest record; `None` for an empty
/// chain) saying `entry`.
pub fn link(head: Option<(u64, &str)>, entry: Entry, alg: HashAlg) -> Record {
    let (seq, prev) = match head {
        Some((seq, hash)) => (seq + 1, hash.to_owned()),
        None => (1, GENESIS.to_owned()),
    };
    let hash = hash(alg, seq, &prev, &entry);
    Record {
        seq,
        entry,
        alg,
        prev,
        hash,
    }
}

/// The details of a [`RETENTION_EVENT`] record: how many records were deleted, and the
/// `seq` and hash of the last of them, where the remaining chain now starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionDetails {
    /// Records deleted by this pass.
    pub deleted: u64,
    /// `seq` of the newest deleted record.
    pub through_seq: u64,
    /// Its hash: the `prev` of the oldest record kept.
    pub through_hash: String,
    /// The cut-off: records older than this (ms since the Unix epoch) were deleted.
    pub before_ms: i64,
}

impl RetentionDetails {
    /// As stored in [`Entry::details`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain fields serialize")
    }
}

/// Why a chain does not verify, naming the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    /// The record's fields do not give its hash: it was changed.
    #[error("record {seq} was altered: its contents do not give its hash")]
    Altered {
        /// The record.
        seq: u64,
    },
    /// The record's `prev` is not the hash of the record before it.
    #[error(
        "record {seq} does not follow record {after}: its `prev` is not that record's hash (a record was changed, replaced or moved)"
    )]
    Unlinked {
        /// The record.
        seq: u64,
        /// The record read before it.
        after: u64,
    },
    /// Records are missing between two.
    #[error("records {from} to {to} are missing (deleted)")]
    Missing {
        /// First missing `seq`.
        from: u64,
        /// Last missing `seq`.
        to: u64,
    },
    /// A record is out of order.
    #[error("record {seq} comes after record {after}: the records were reordered")]
    Reordered {
        /// The record.
        seq: u64,
        /// The record read before it.
        after: u64,
    },
    /// The chain starts after record 1 and no retention record says where it may.
    #[error(
        "the log starts at record {seq}, and no {RETENTION_EVENT} record says records before it were deleted by retention (records were deleted)"
    )]
    BadStart {
        /// The first record read.
        seq: u64,
    },
    /// A record names a hash function this version does not know.
    #[error("record {seq} names an unknown hash function")]
    UnknownAlg {
        /// The record.
        seq: u64,
    },
    /// A seal does not hold.
    #[error("seal at record {seq}: {reason}")]
    Seal {
        /// The seal record.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The head row names another newest record than the log holds.
    #[error(
        "the head row says record {head_seq} is the newest, the log ends at record {last}: {reason}"
    )]
    Head {
        /// `seq` in the head row.
        head_seq: u64,
        /// The newest record read (0: none).
        last: u64,
        /// What that means.
        reason: &'static str,
    },
    /// An outside anchor (syslog) names a record whose hash differs, or that is missing.
    #[error("the anchor for record {seq} does not match: {reason}")]
    Anchor {
        /// The anchored record.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
}

/// What a verified chain holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Records read.
    pub records: u64,
    /// `seq` of the first record (0 for an empty log).
    pub first_seq: u64,
    /// `seq` and hash of the newest record.
    pub head: Option<(u64, String)>,
    /// Seals checked.
    pub seals: u64,
    /// The newest record a seal covers (0: none).
    pub sealed_through: u64,
    /// Anchors checked.
    pub anchors: u64,
    /// When the oldest record no seal covers was made, Unix ms (`None`: all sealed, or not
    /// looked up).
    pub oldest_unsealed_ms: Option<i64>,
    /// SLA adjustments compared with their records (`None`: not checked, e.g. a file).
    pub adjustments: Option<u64>,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.head {
            None => write!(f, "the audit log is empty")?,
            Some((seq, hash)) => write!(
                f,
                "{} records ({} to {seq}) form an unbroken chain; head {hash}; {} seals checked, sealed through record {}; {} anchors checked",
                self.records, self.first_seq, self.seals, self.sealed_through, self.anchors
            )?,
        }
        match self.adjustments {
            Some(n) => write!(f, "; {n} SLA adjustments match their records"),
            None => Ok(()),
        }
    }
}

/// Checks a seal record: that it names a record within reach, with that record's hash, and
/// that its signature holds. Given the seal and the hash of the record it names.
pub type SealCheck<'a> = dyn FnMut(&Record, Option<&str>) -> Result<u64, String> + 'a;

/// Verifies a chain read oldest first, one record at a time (pages of any size).
#[derive(Debug, Default)]
pub struct Verifier {
    done: Verified,
    /// `(seq, prev)` of the first record when it is not record 1.
    late_start: Option<(u64, String)>,
    /// A retention record seen that explains where the chain starts.
    start_explained: bool,
    /// The newest hashes, for seals and anchors.
    recent: VecDeque<(u64, String)>,
    /// Outside anchors not yet met: `(seq, hash)`, sorted.
    anchors: Vec<(u64, String)>,
    /// A gap seen at the last record: reported as missing records unless the next record
    /// shows that they were moved instead.
    gap: Option<Break>,
    /// An anchor given for where a partial chain starts: `(seq, hash)` of the record before.
    start_anchor: Option<(u64, String)>,
}

impl Verifier {
    /// A verifier that also checks the outside anchors `(seq, hash)`, e.g. read from syslog.
    pub fn with_anchors(mut anchors: Vec<(u64, String)>) -> Verifier {
        anchors.sort();
        Verifier {
            anchors,
            ..Verifier::default()
        }
    }

    /// A verifier of a chain that may start after record `seq`, whose hash is `hash` (an
    /// export made with `--after`, checked against a hash the auditor holds).
    pub fn starting_after(mut self, seq: u64, hash: String) -> Verifier {
        self.start_anchor = Some((seq, hash));
        self
    }

    /// The hash of record `seq`, when among the newest [`SEAL_REACH`].
    fn recent(&self, seq: u64) -> Option<&str> {
        self.recent
            .iter()
            .rev()
            .find(|(s, _)| *s == seq)
            .map(|(_, h)| h.as_str())
    }

    /// Takes the next record. `seal` checks a seal record (see [`SealCheck`]): it returns the
    /// `seq` the seal covers.
    pub fn push(&mut self, r: &Record, seal: &mut SealCheck<'_>) -> Result<(), Break> {
        if let Some(gap) = self.gap.take() {
            return Err(match &self.done.head {
                Some((last, _)) if r.seq < *last => Break::Reordered {
                    seq: r.seq,
                    after: *last,
                },
                _ => gap,
            });
        }
        if hash(r.alg, r.seq, &r.prev, &r.entry) != r.hash {
            return Err(Break::Altered { seq: r.seq });
        }
        match &self.done.head {
            None => {
                self.done.first_seq = r.seq;
                if r.seq != 1 || r.prev != GENESIS {
                    self.late_start = Some((r.seq, r.prev.clone()));
                }
            }
            Some((last, last_hash)) => {
                let last = *last;
                if r.seq <= last {
                    return Err(Break::Reordered {
                        seq: r.seq,
                        after: last,
                    });
                }
                if r.seq > last + 1 {
                    self.gap = Some(Break::Missing {
                        from: last + 1,
                        to: r.seq - 1,
                    });
                    self.done.head = Some((r.seq, r.hash.clone()));
                    return Ok(());
                }
                if &r.prev != last_hash {
                    return Err(Break::Unlinked {
                        seq: r.seq,
                        after: last,
                    });
                }
            }
        }
        if r.entry.event == RETENTION_EVENT
            && let Some((start, prev)) = &self.late_start
            && let Ok(d) = serde_json::from_str::<RetentionDetails>(&r.entry.details)
            && d.through_seq.checked_add(1) == Some(*start)
            && &d.through_hash == prev
        {
            self.start_explained = true;
        }
        let named = (r.entry.event == SEAL_EVENT)
            .then(|| seal_through_seq(&r.entry.details))
            .flatten();
        // A seal over records retention deleted since cannot be checked, and need not be:
        // where the kept chain may start is checked at the end. Only then: a seal naming
        // nothing before record 1 is a forged one.
        let before_start =
            self.late_start.is_some() && named.is_some_and(|s| s < self.done.first_seq);
        if r.entry.event == SEAL_EVENT && !before_start {
            let known = named.and_then(|s| self.recent(s));
            let through = seal(r, known).map_err(|reason| Break::Seal { seq: r.seq, reason })?;
            self.done.seals += 1;
            self.done.sealed_through = self.done.sealed_through.max(through);
        }
        while let Some((seq, hash)) = self.anchors.first() {
            if *seq > r.seq {
                break;
            }
            let (seq, want) = (*seq, hash.clone());
            self.anchors.remove(0);
            let found = if seq == r.seq {
                Some(r.hash.as_str())
            } else {
                self.recent(seq)
            };
            match found {
                Some(h) if h == want => self.done.anchors += 1,
                Some(h) => {
                    return Err(Break::Anchor {
                        seq,
                        reason: format!("the log has {h}, the anchor {want}"),
                    });
                }
                // Before the first record kept: deleted by retention, nothing to compare.
                None if seq < self.done.first_seq => {}
                None => {
                    return Err(Break::Anchor {
                        seq,
                        reason: "the record is not in the log".into(),
                    });
                }
            }
        }
        self.recent.push_back((r.seq, r.hash.clone()));
        if self.recent.len() > SEAL_REACH {
            self.recent.pop_front();
        }
        self.done.records += 1;
        self.done.head = Some((r.seq, r.hash.clone()));
        Ok(())
    }

    /// The result, once every record was pushed.
    pub fn finish(self) -> Result<Verified, Break> {
        if let Some(gap) = self.gap {
            return Err(gap);
        }
        if let Some((seq, prev)) = &self.late_start {
            // Or an outside anchor names the record before the start (a partial export
            // checked against a hash the auditor holds).
            let anchored = self
                .start_anchor
                .as_ref()
                .is_some_and(|(s, h)| s.checked_add(1) == Some(*seq) && h == prev);
            if !self.start_explained && !anchored {
                return Err(Break::BadStart { seq: *seq });
            }
        }
        if let Some((seq, _)) = self.anchors.first() {
            let head = self.done.head.as_ref().map_or(0, |(s, _)| *s);
            return Err(Break::Anchor {
                seq: *seq,
                reason: format!("the log ends at record {head}: the newest records were deleted"),
            });
        }
        Ok(self.done)
    }
}

#[cfg(test)]
mod tests;
