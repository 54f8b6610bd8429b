//! Time units and the seeded random numbers of a generated month.

/// A second, in ms.
pub const S: i64 = 1_000;
/// A minute, in ms.
pub const MIN: i64 = 60 * S;
/// An hour, in ms.
pub const HOUR: i64 = 60 * MIN;
/// A day, in ms (a month's days are 24 hours: both months used have no DST).
pub const DAY: i64 = 24 * HOUR;

/// Day `day` (1-based) of the month starting at `start`, `h:m` local time.
pub const fn local(start: i64, day: i64, h: i64, m: i64) -> i64 {
    start + (day - 1) * DAY + h * HOUR + m * MIN
}

/// `a / b` rounded up, `b` > 0.
pub fn ceil_div(a: i64, b: i64) -> i64 {
    -(-a).div_euclid(b)
}

/// splitmix64: deterministic for a seed, the same on every machine, no dependency. Each
/// host, link and window draws from its own seed, so a month of N hosts is a prefix of a
/// month of N + 1 hosts and a host's schedule does not depend on the order it is made in.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator of `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut r = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5851_F42D_4C95_7F2D);
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// A number in `a..b` (`a` when the range is empty).
    pub fn range(&mut self, a: i64, b: i64) -> i64 {
        a + self.below((b - a).max(1) as u64) as i64
    }
}
