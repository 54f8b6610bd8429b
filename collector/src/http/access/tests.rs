use super::*;

fn header(v: &str) -> HeaderValue {
    HeaderValue::from_str(v).unwrap()
}

/// `Basic base64(name:password)`, encoded here by hand-made table so the decoder is tested
/// against literal text.
const OPS_SECRET: &str = "Basic b3BzOnMzY3JldA=="; // ops:s3cret
const OPS_WRONG: &str = "Basic b3BzOndyb25n"; // ops:wrong
const PROM_SECRET: &str = "Basic cHJvbTpzM2NyZXQ="; // prom:s3cret

fn gate(public: &[&str]) -> Gate {
    let hash = PasswordHash::new("s3cret", MIN_ITERATIONS).to_string();
    Gate::new(Access {
        tls: None,
        users: vec![
            User {
                name: "ops".into(),
                password_hash: hash.clone(),
                role: Role::Viewer,
            },
            User {
                name: "prom".into(),
                password_hash: hash,
                role: Role::Metrics,
            },
        ],
        public: public.iter().map(|s| (*s).to_owned()).collect(),
    })
}

#[test]
fn a_hash_round_trips_and_checks_the_password() {
    let h = PasswordHash::new("s3cret", MIN_ITERATIONS);
    let text = h.to_string();
    assert!(text.starts_with("pbkdf2-sha256$100000$"), "{text}");
    let parsed = PasswordHash::parse(&text).unwrap();
    assert!(parsed.verify("s3cret"));
    assert!(!parsed.verify("s3cret "));
    assert_ne!(
        PasswordHash::new("s3cret", MIN_ITERATIONS).to_string(),
        text,
        "a fresh salt each time"
    );
    for (bad, says) in [
        ("s3cret", "is not of the form"),
        ("bcrypt$1$00$00", "only pbkdf2-sha256"),
        (
            "pbkdf2-sha256$1000$00112233445566778899aabbccddeeff$00",
            "iterations",
        ),
        ("pbkdf2-sha256$600000$zz$00", "hexadecimal"),
        ("pbkdf2-sha256$600000$0011$00", "at least 16 bytes"),
    ] {
        let e = PasswordHash::parse(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn base64_and_basic_credentials_decode_literal_text() {
    assert_eq!(from_base64("b3BzOnMzY3JldA==").unwrap(), b"ops:s3cret");
    assert_eq!(from_base64("YWJj").unwrap(), b"abc");
    assert_eq!(from_base64("YWI=").unwrap(), b"ab");
    assert_eq!(from_base64("").unwrap(), b"");
    for bad in ["YWJ", "YW=j", "Y===", "YW!j", "YQ==YWJj"] {
        assert!(from_base64(bad).is_none(), "{bad}");
    }
    assert_eq!(
        basic_credentials(&header(OPS_SECRET)),
        Some(("ops".into(), "s3cret".into()))
    );
    assert_eq!(
        basic_credentials(&header("basic YWJjOmQ6ZQ==")),
        Some(("abc".into(), "d:e".into())),
        "the password may hold ':'"
    );
    assert_eq!(basic_credentials(&header("Bearer abc")), None);
    assert_eq!(basic_credentials(&header("Basic YWJj")), None, "no ':'");
    let long = format!("Basic {}", "A".repeat(2000));
    assert_eq!(basic_credentials(&header(&long)), None);
}

#[tokio::test]
async fn users_roles_and_public_paths() {
    let g = gate(&["/healthz", "/assets/*"]);
    assert!(g.enabled());
    assert_eq!(g.check("/healthz", None).await, Verdict::Allowed);
    assert_eq!(g.check("/assets/cockpit.css", None).await, Verdict::Allowed);
    assert_eq!(g.check("/", None).await, Verdict::Unauthorized);
    assert_eq!(g.check("/metrics", None).await, Verdict::Unauthorized);
    assert_eq!(
        g.check("/", Some(&header(OPS_WRONG))).await,
        Verdict::Unauthorized
    );
    assert_eq!(
        g.check("/", Some(&header("Basic bm9ib2R5OnMzY3JldA==")))
            .await,
        Verdict::Unauthorized,
        "unknown user"
    );
    assert_eq!(
        g.check("/", Some(&header(OPS_SECRET))).await,
        Verdict::Allowed
    );
    assert_eq!(
        g.check("/metrics", Some(&header(PROM_SECRET))).await,
        Verdict::Allowed
    );
    assert_eq!(
        g.check("/", Some(&header(PROM_SECRET))).await,
        Verdict::Forbidden
    );
    assert_eq!(
        g.check("/api/v1/links", Some(&header(PROM_SECRET))).await,
        Verdict::Forbidden
    );
    assert_eq!(g.refused.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn remembered_credentials_need_no_permit_and_unverified_ones_wait_for_none() {
    let g = gate(&[]);
    assert_eq!(
        g.check("/", Some(&header(OPS_SECRET))).await,
        Verdict::Allowed
    );
    // Every verification permit taken (two floods in progress): a remembered credential
    // still passes, a new one is refused at once rather than queued.
    let _a = g.verifying.clone().try_acquire_owned().unwrap();
    let _b = g.verifying.clone().try_acquire_owned().unwrap();
    assert_eq!(
        g.check("/", Some(&header(OPS_SECRET))).await,
        Verdict::Allowed
    );
    assert_eq!(g.check("/", Some(&header(OPS_WRONG))).await, Verdict::Busy);
    assert_eq!(
        g.check("/metrics", Some(&header(PROM_SECRET))).await,
        Verdict::Busy
    );
}

#[test]
fn problems_name_the_user_and_the_fix() {
    let mut access = Access {
        tls: None,
        users: vec![
            User {
                name: "a:b".into(),
                password_hash: "plain".into(),
                role: Role::Viewer,
            },
            User {
                name: "x".into(),
                password_hash: PasswordHash::new("p", MIN_ITERATIONS).to_string(),
                role: Role::Metrics,
            },
        ],
        public: vec!["metrics".into()],
    };
    access.users.push(access.users[1].clone());
    let mut found = Vec::new();
    access.problems(&mut |k, m| found.push(format!("{k}: {m}")));
    let all = found.join("\n");
    assert!(all.contains("access.users: user name \"a:b\""), "{all}");
    assert!(
        all.contains("password_hash of user \"a:b\" is not of the form"),
        "{all}"
    );
    assert!(all.contains("hash-password"), "{all}");
    assert!(all.contains("user \"x\" is listed twice"), "{all}");
    assert!(
        all.contains("access.public: \"metrics\" is not a path"),
        "{all}"
    );
    assert!(!Gate::new(Access::default()).enabled());
}

#[test]
fn the_audit_log_is_the_audit_roles_alone() {
    assert!(!Role::Viewer.allows(AUDIT_LOG_PATH));
    assert!(Role::Viewer.allows("/api/v1/report"));
    assert!(Role::Audit.allows(AUDIT_LOG_PATH) && Role::Audit.allows("/healthz"));
    assert!(!Role::Audit.allows("/metrics") && !Role::Audit.allows("/"));
    assert!(!Role::Metrics.allows(AUDIT_LOG_PATH));
}
