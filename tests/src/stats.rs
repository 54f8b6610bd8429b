//! The binomial interval the loss tests judge a measured loss by.
//!
//! With loss injected independently per packet at rate `p`, the number of lost probes out of
//! `n` is Binomial(n, p) when the agent counts right. A test then asks whether the count it
//! was shown lies inside the central interval that holds the count with the chosen
//! probability (99%): a biased count falls outside as `n` grows, a correct one stays inside
//! all but 1% of the time. The interval is computed exactly (no normal approximation, which
//! is poor at p = 0.1 and meaningless at p = 0 or 1).

/// The central `confidence` interval `[lo, hi]` of Binomial(`n`, `p`): the count lies below
/// `lo` with probability at most (1 - confidence)/2, and above `hi` likewise.
///
/// # Panics
///
/// When `p` or `confidence` is not in [0, 1].
pub fn binomial_interval(n: u64, p: f64, confidence: f64) -> (u64, u64) {
    assert!((0.0..=1.0).contains(&p), "p = {p} is not a probability");
    assert!(
        (0.0..=1.0).contains(&confidence),
        "confidence {confidence} not in [0, 1]"
    );
    if p == 0.0 {
        return (0, 0);
    }
    if p == 1.0 {
        return (n, n);
    }
    let tail = (1.0 - confidence) / 2.0;
    // Probabilities in log space: (1-p)^n underflows f64 for the n the tests use.
    let log_odds = (p / (1.0 - p)).ln();
    let mut log_pmf = n as f64 * (1.0 - p).ln();
    let mut cdf = 0.0;
    let mut lo = None;
    for k in 0..=n {
        cdf += log_pmf.exp();
        // lo: the smallest k with P(X <= k) > tail, so P(X < lo) <= tail.
        if lo.is_none() && cdf > tail {
            lo = Some(k);
        }
        // hi: the smallest k with P(X > k) <= tail.
        if 1.0 - cdf <= tail {
            return (lo.unwrap_or(k), k);
        }
        if k < n {
            log_pmf += ((n - k) as f64 / (k + 1) as f64).ln() + log_odds;
        }
    }
    (lo.unwrap_or(n), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_rates() {
        assert_eq!(binomial_interval(500, 0.0, 0.99), (0, 0));
        assert_eq!(binomial_interval(500, 1.0, 0.99), (500, 500));
    }

    #[test]
    fn matches_the_normal_approximation_where_it_is_good() {
        // n = 10000, p = 0.3: mean 3000, sd 45.8, z(0.995) = 2.576 -> 3000 +- 118.
        let (lo, hi) = binomial_interval(10_000, 0.3, 0.99);
        assert!((2878..=2886).contains(&lo), "{lo}");
        assert!((3114..=3122).contains(&hi), "{hi}");
    }

    #[test]
    fn small_case_by_hand() {
        // Binomial(4, 0.5): P = 1/16, 4/16, 6/16, 4/16, 1/16. For 80%: tails of 10% each;
        // P(X <= 0) = 6.25% <= 10%, P(X <= 1) = 31.25% > 10% -> lo = 1; P(X > 2) = 31.25%,
        // P(X > 3) = 6.25% <= 10% -> hi = 3.
        assert_eq!(binomial_interval(4, 0.5, 0.8), (1, 3));
        // At 99% nothing can be excluded: each end has 6.25% > 0.5%.
        assert_eq!(binomial_interval(4, 0.5, 0.99), (0, 4));
    }

    #[test]
    fn holds_at_least_the_confidence() {
        for (n, p) in [(500, 0.1), (537, 0.3), (1000, 0.01), (60, 0.9)] {
            let (lo, hi) = binomial_interval(n, p, 0.99);
            // Sum the pmf inside the interval directly (linear space is fine for these n).
            let mut inside = 0.0;
            let mut pmf = (1.0f64 - p).powi(n as i32);
            for k in 0..=n {
                if (lo..=hi).contains(&k) {
                    inside += pmf;
                }
                pmf *= (n - k) as f64 / (k + 1) as f64 * p / (1.0 - p);
            }
            assert!(
                inside >= 0.99 - 1e-9,
                "n={n} p={p}: [{lo}, {hi}] holds {inside}"
            );
            assert!(lo as f64 <= n as f64 * p && n as f64 * p <= hi as f64);
        }
    }
}
