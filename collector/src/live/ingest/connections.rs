//! The ingest listener's connection table: who may hold a connection, and who goes when
//! the table is full. Pure bookkeeping (no sockets, no clock), tested with literal
//! sequences; the listener owns the I/O and the handles it aborts.
//!
//! The rules, in the order they apply:
//!
//! 1. **In all** at most `max_connections` connections are open (the server lowers it to
//!    what the descriptor limit allows, keeping a reserve, so that `accept` does not run
//!    out of descriptors). A new connection beyond it evicts the oldest connection still in
//!    its TLS handshake; with none in handshake, the new one is refused. Connections of an
//!    identified agent are never evicted for a newcomer. A connection without a client
//!    certificate stays in the handshake set (evictable, counted per address) while it gets
//!    its 401, so that clients without a certificate cannot fill the table.
//! 2. **Per source address** at most `max_handshakes_per_address` handshakes are
//!    unfinished; a new one beyond it evicts that address's oldest. Unfinished handshakes
//!    cost a descriptor and nothing else, and one address cannot fill the table with them;
//!    a real agent's handshake takes a round trip, so a flood has to open that many
//!    connections within one round trip to push it out.
//! 3. **Per agent identity** (certificate common name) at most `max_connections_per_agent`
//!    connections; a further one is closed right after its handshake. Identities, not
//!    addresses: many agents may share an address behind NAT, while one certificate is one
//!    agent, which needs one connection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// The caps of the table; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most open connections in all.
    pub max_connections: usize,
    /// Most unfinished handshakes per source address.
    pub max_handshakes_per_address: usize,
    /// Most connections per agent identity.
    pub max_connections_per_agent: usize,
    /// New connections per source address and second (the listener's rate, `rate.rs`; not
    /// this table's).
    pub new_connections_per_address_per_second: u32,
}

/// A connection's number in the table; numbers grow with age, so the smallest is oldest.
pub type ConnId = u64;

/// What to do with a new connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission<H> {
    /// Serve it as `id`; first close the evicted connections (their handles).
    Admit {
        /// The new connection's number.
        id: ConnId,
        /// Unfinished handshakes that make room for it.
        evicted: Vec<H>,
    },
    /// Close it: the table is full of finished connections.
    Refuse,
}

/// Why a connection was closed by the table rather than by its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// Refused at accept: `max_connections` finished connections are open.
    Full,
    /// Evicted in its handshake to make room (either cap).
    HandshakeEvicted,
    /// Closed after its handshake: its identity holds `max_connections_per_agent`.
    PerAgent,
    /// Closed before its handshake: its address opens connections faster than
    /// `new_connections_per_address_per_second`.
    Rate,
}

impl Refusal {
    /// Every reason, for exposing zeroes.
    pub const ALL: [Refusal; 4] = [
        Refusal::Full,
        Refusal::HandshakeEvicted,
        Refusal::PerAgent,
        Refusal::Rate,
    ];

    /// Label value of `zerofault_ingest_connections_refused_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Full => "full",
            Refusal::HandshakeEvicted => "handshake_evicted",
            Refusal::PerAgent => "per_agent",
            Refusal::Rate => "rate",
        }
    }
}

/// Open connections; `H` is what closes one (the listener's task handle).
#[derive(Debug)]
pub struct Table<H> {
    limits: ConnectionLimits,
    next: ConnId,
    open: usize,
    /// Unfinished handshakes, oldest first, with their handle once the task runs.
    handshakes: BTreeMap<ConnId, (IpAddr, Option<H>)>,
    handshakes_by_address: HashMap<IpAddr, BTreeSet<ConnId>>,
    per_agent: HashMap<String, usize>,
}

impl<H> Table<H> {
    /// An empty table with these caps.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            next: 0,
            open: 0,
            handshakes: BTreeMap::new(),
            handshakes_by_address: HashMap::new(),
            per_agent: HashMap::new(),
        }
    }

    /// The caps in force.
    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Open connections (in handshake or not).
    pub fn open(&self) -> usize {
        self.open
    }

    /// A new connection from `address`; on [`Admission::Admit`] it is counted as open and
    /// in its handshake, and [`Self::set_handle`] should follow.
    pub fn admit(&mut self, address: IpAddr) -> Admission<H> {
        let mut evicted = Vec::new();
        let mut made_room = false;
        let from_address = self
            .handshakes_by_address
            .get(&address)
            .map_or(0, BTreeSet::len);
        if from_address >= self.limits.max_handshakes_per_address.max(1) {
            let oldest = self.handshakes_by_address[&address].first().copied();
            if let Some(id) = oldest {
                evicted.extend(self.evict(id));
                made_room = true;
            }
        }
        // One eviction makes room for one newcomer: the evicted connection still counts as
        // open until its task ends, which is moments later.
        if !made_room && self.open >= self.limits.max_connections.max(1) {
            match self.handshakes.first_key_value().map(|(id, _)| *id) {
                Some(id) => evicted.extend(self.evict(id)),
                None => return Admission::Refuse,
            }
        }
        let id = self.next;
        self.next += 1;
        self.open += 1;
        self.handshakes.insert(id, (address, None));
        self.handshakes_by_address
            .entry(address)
            .or_default()
            .insert(id);
        Admission::Admit { id, evicted }
    }

    /// Records what closes connection `id` while it is in its handshake.
    pub fn set_handle(&mut self, id: ConnId, handle: H) {
        if let Some((_, h)) = self.handshakes.get_mut(&id) {
            *h = Some(handle);
        }
    }

    /// Connection `id` finished its handshake as `agent`. Returns false when it was evicted
    /// meanwhile or `agent` already holds its cap: close the connection. A connection
    /// without a certificate name is not reported here: it stays in the handshake set.
    pub fn handshake_done(&mut self, id: ConnId, agent: &str) -> bool {
        if self.forget_handshake(id).is_none() {
            return false;
        }
        let n = self.per_agent.entry(agent.to_owned()).or_insert(0);
        if *n >= self.limits.max_connections_per_agent.max(1) {
            return false;
        }
        *n += 1;
        true
    }

    /// Connection `id` is closed; `agent` is what [`Self::handshake_done`] accepted, if it did.
    pub fn closed(&mut self, id: ConnId, agent: Option<&str>) {
        self.forget_handshake(id);
        if let Some(agent) = agent
            && let Some(n) = self.per_agent.get_mut(agent)
        {
            *n -= 1;
            if *n == 0 {
                self.per_agent.remove(agent);
            }
        }
        self.open = self.open.saturating_sub(1);
    }

    /// Removes an unfinished handshake and returns its handle; the connection stays
    /// counted as open until its task ends and reports [`Self::closed`].
    fn evict(&mut self, id: ConnId) -> Option<H> {
        let (_, handle) = self.forget_handshake(id)?;
        handle
    }

    fn forget_handshake(&mut self, id: ConnId) -> Option<(IpAddr, Option<H>)> {
        let (address, handle) = self.handshakes.remove(&id)?;
        if let Some(ids) = self.handshakes_by_address.get_mut(&address) {
            ids.remove(&id);
            if ids.is_empty() {
                self.handshakes_by_address.remove(&address);
            }
        }
        Some((address, handle))
    }
}

/// File descriptors kept out of `max_connections`: the database (with its journal files),
/// the listeners, the HTTP side's connections (scrapes, API, reports) and the log.
pub fn reserved_descriptors(soft_limit: u64) -> u64 {
    64 + soft_limit / 16
}

/// `max_connections` lowered to what `soft_limit` descriptors allow; see
/// [`reserved_descriptors`].
pub fn connections_within(max_connections: usize, soft_limit: u64) -> usize {
    let room = soft_limit.saturating_sub(reserved_descriptors(soft_limit));
    max_connections
        .min(usize::try_from(room).unwrap_or(usize::MAX))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 2));

    fn table(total: usize, per_address: usize, per_agent: usize) -> Table<&'static str> {
        Table::new(ConnectionLimits {
            max_connections: total,
            max_handshakes_per_address: per_address,
            max_connections_per_agent: per_agent,
            new_connections_per_address_per_second: 100,
        })
    }

    fn admit(
        t: &mut Table<&'static str>,
        a: IpAddr,
        handle: &'static str,
    ) -> (ConnId, Vec<&'static str>) {
        match t.admit(a) {
            Admission::Admit { id, evicted } => {
                t.set_handle(id, handle);
                (id, evicted)
            }
            Admission::Refuse => panic!("refused {handle}"),
        }
    }

    #[test]
    fn a_full_table_evicts_the_oldest_handshake_then_refuses() {
        let mut t = table(3, 100, 8);
        let (a, _) = admit(&mut t, A, "a");
        let (b, _) = admit(&mut t, B, "b");
        let (_c, _) = admit(&mut t, A, "c");
        assert!(t.handshake_done(a, "web-01"));
        // Full: the oldest unfinished handshake (b) makes room, not the agent web-01.
        let (_d, evicted) = admit(&mut t, A, "d");
        assert_eq!(evicted, ["b"]);
        // b's task ends and reports it; the count follows.
        t.closed(b, None);
        assert_eq!(t.open(), 3);
        let (_e, evicted) = admit(&mut t, B, "e");
        assert_eq!(evicted, ["c"]);
    }

    #[test]
    fn a_table_full_of_agents_refuses_newcomers() {
        let mut t = table(2, 100, 8);
        let (a, _) = admit(&mut t, A, "a");
        let (b, _) = admit(&mut t, A, "b");
        assert!(t.handshake_done(a, "x"));
        assert!(t.handshake_done(b, "y"));
        assert_eq!(t.admit(B), Admission::Refuse);
        t.closed(a, Some("x"));
        assert!(matches!(t.admit(B), Admission::Admit { .. }));
    }

    #[test]
    fn one_address_cannot_hold_more_handshakes_than_its_cap() {
        let mut t = table(100, 2, 8);
        admit(&mut t, A, "a1");
        admit(&mut t, A, "a2");
        admit(&mut t, B, "b1");
        let (_, evicted) = admit(&mut t, A, "a3");
        assert_eq!(evicted, ["a1"]);
        // The other address is untouched.
        let (_, evicted) = admit(&mut t, B, "b2");
        assert!(evicted.is_empty());
    }

    #[test]
    fn an_agent_beyond_its_cap_is_closed_after_the_handshake_and_counts_return() {
        let mut t = table(100, 100, 2);
        let ids: Vec<ConnId> = (0..3).map(|_| admit(&mut t, A, "x").0).collect();
        assert!(t.handshake_done(ids[0], "mallory"));
        assert!(t.handshake_done(ids[1], "mallory"));
        assert!(!t.handshake_done(ids[2], "mallory"));
        t.closed(ids[2], None);
        // Another identity from the same address is not affected.
        let (other, _) = admit(&mut t, A, "y");
        assert!(t.handshake_done(other, "web-01"));
        t.closed(ids[0], Some("mallory"));
        let (again, _) = admit(&mut t, A, "z");
        assert!(t.handshake_done(again, "mallory"));
        assert_eq!(t.open(), 3);
    }

    #[test]
    fn an_evicted_handshake_that_finishes_late_is_closed() {
        let mut t = table(1, 100, 8);
        let (a, _) = admit(&mut t, A, "a");
        let (_b, evicted) = admit(&mut t, A, "b");
        assert_eq!(evicted, ["a"]);
        // a's task has not seen its abort yet: it must not start serving.
        assert!(!t.handshake_done(a, "late"));
        t.closed(a, None);
        assert_eq!(t.open(), 1);
    }

    #[test]
    fn one_newcomer_evicts_one_handshake_even_at_both_caps() {
        let mut t = table(2, 2, 8);
        admit(&mut t, A, "a1");
        admit(&mut t, A, "a2");
        let (_, evicted) = admit(&mut t, A, "a3");
        assert_eq!(evicted, ["a1"]);
    }

    #[test]
    fn connections_without_a_certificate_stay_evictable() {
        let mut t = table(2, 100, 8);
        // Two clients without a certificate: never reported as done, so still evictable.
        admit(&mut t, A, "anon1");
        admit(&mut t, A, "anon2");
        let (_, evicted) = admit(&mut t, B, "agent");
        assert_eq!(evicted, ["anon1"]);
    }

    #[test]
    fn the_descriptor_limit_lowers_the_cap() {
        assert_eq!(connections_within(65_536, 1024), 1024 - 64 - 64);
        assert_eq!(connections_within(65_536, 524_288), 65_536);
        assert_eq!(connections_within(100, 1024), 100);
        assert_eq!(connections_within(65_536, 10), 1);
    }
}
