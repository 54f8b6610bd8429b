//! The agent's kernel calls that no safe crate wraps: the clock's synchronisation state
//! ([`clock`], `adjtimex(2)`) and giving back the page mappings of code it no longer runs
//! ([`mappings`], `madvise(2)` on its own executable).
//!
//! Why a crate of its own: the agent forbids unsafe code; here it is denied, and allowed on
//! each call alone, with the reason it is sound next to it. What the results mean is
//! decided in the agent, by pure functions tested with literal values.

pub mod clock;
pub mod mappings;
