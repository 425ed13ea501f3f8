//! Per-run secrets: the control endpoint's token, the mocks' admin token,
//! Grafana's admin password, PostgreSQL's password. Each is random, kept in
//! memory or in an owner-only file, never printed; comparisons take the
//! same time whatever the guess.

/// 32 random alphanumerics (about 190 bits).
pub fn random() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Whether `given` equals `secret`, in time independent of where they
/// differ.
pub fn matches(given: &str, secret: &str) -> bool {
    given.len() == secret.len()
        && given
            .bytes()
            .zip(secret.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Whether `headers` carry `Authorization: Bearer <secret>`.
pub fn bearer_matches(headers: &axum::http::HeaderMap, secret: &str) -> bool {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| matches(given, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_compared_exactly() {
        let (a, b) = (random(), random());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(matches(&a, &a));
        assert!(!matches(&a, &b));
        assert!(!matches(&a[..31], &a));
        let mut h = axum::http::HeaderMap::new();
        h.insert("authorization", format!("Bearer {a}").parse().unwrap());
        assert!(bearer_matches(&h, &a));
        assert!(!bearer_matches(&h, &b));
    }
}
