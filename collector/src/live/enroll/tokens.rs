//! Enrollment tokens: made here, shown once, stored only as their SHA-256.

use zerofault_protocol::enroll::TOKEN_PREFIX;

/// Random bytes in a token: 256 bits, beyond guessing at any request rate.
const TOKEN_BYTES: usize = 32;

/// A new token.
pub fn generate() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system's random source works");
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// What is stored of `token`.
pub fn hash(token: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

/// Whether `token` has the form of one: a typo or a value pasted from elsewhere is named as
/// such instead of being looked up.
pub fn well_formed(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == TOKEN_BYTES * 2 && rest.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_new_each_time_and_stored_as_a_hash() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(well_formed(&a) && well_formed(&b));
        assert!(!well_formed("zfe1_abc") && !well_formed(&a.replace("zfe1_", "zfe2_")));
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
        assert!(!hash(&a).contains(&a[5..]));
    }
}
