//! SLA adjustments as the store keeps them (issue 16, `docs/sla-operations.md`): a period
//! excluded after the fact from a host's, a link's or a group's availability (a power cut
//! agreed as force majeure), with who, when and why.
//!
//! An adjustment and its audit record are written in **one transaction**: its id is the
//! sequence number of its `sla.adjust` record in the audit chain, so there is no adjustment
//! without its record, and a row added to the table by hand (without a record, or with one
//! that says something else) is found by `audit verify`, which compares the two. A withdrawal
//! is the same: the row keeps the seq of its `sla.withdraw` record. Nothing is deleted: a
//! withdrawn adjustment stays in the month's report, marked so.

/// An adjustment to be stored (who and when come from its audit record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAdjustment {
    /// The scope's kind as the inventory names it (`host`, `link`, `department`,
    /// `business_system`, `data_center`, `site`: `inventory::Scope::kind`).
    pub kind: String,
    /// The agent id, link id or group code.
    pub code: String,
    /// Start of the excluded period, ms since the Unix epoch (collector clock), inclusive.
    pub start_ms: i64,
    /// End, exclusive.
    pub end_ms: i64,
    /// Why, as the operator gave it.
    pub reason: String,
}

/// A stored adjustment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// The seq of its `sla.adjust` audit record.
    pub id: u64,
    /// What it adjusts, the period and why.
    pub what: NewAdjustment,
    /// Who made it (the record's actor).
    pub actor: String,
    /// When it was made (the record's time), ms since the Unix epoch.
    pub created_ms: i64,
    /// Its withdrawal, if it was withdrawn.
    pub withdrawn: Option<Withdrawal>,
}

/// The withdrawal of an adjustment: from then on it excludes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    /// The seq of its `sla.withdraw` audit record.
    pub seq: u64,
    /// Who withdrew it.
    pub actor: String,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
    /// Why.
    pub reason: String,
}
