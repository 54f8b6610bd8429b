//! Built-in notifications (docs/notifications.md) from a real collector to a webhook and an
//! SMTP relay that both fail their first delivery: a host going down is announced once
//! (retried until delivered) and its return with its duration; a host inside a maintenance
//! window says nothing; every event and attempt is in the outbox.

use std::time::Duration;

use zerofault_tests::notify::{SmtpStub, WebhookStub};
use zerofault_tests::{Collector, TestCa, wait_until};

#[tokio::test]
async fn a_host_outage_is_announced_and_resolved_once_per_channel_and_maintenance_is_silent()
-> anyhow::Result<()> {
    let hook = WebhookStub::spawn(1).await?;
    let smtp = SmtpStub::spawn(1).await?;
    let ca = TestCa::new(&["nt-a", "nt-b", "nt-m"])?;
    let dir = tempfile::tempdir()?;
    // nt-m's host is inside a maintenance window from an hour ago for four hours.
    let start = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(1))?
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M")
        .to_string();
    let inventory = dir.path().join("inventory.yaml");
    std::fs::write(
        &inventory,
        format!(
            "time_zone: UTC\nmaintenance:\n  - scope: {{host: nt-m}}\n    once: {{start: \"{start}\", duration: 4h}}\n"
        ),
    )?;
    let c = Collector::builder(&ca)
        .extra_config(&format!(
            "inventory: {}\nnotifications:\n  dir: notify\n  open_after: 1s\n  lang: en\n  \
             webhooks:\n    - {{name: noc, url: '{}'}}\n  email:\n    smtp: {}\n    tls: none\n    \
             from: zerofault@example.internal\n    to: [noc@example.internal, duty@example.internal]\n",
            inventory.display(),
            hook.url(),
            smtp.addr()
        ))
        .spawn()
        .await?;
    let mut a = c.agent("nt-a").department("d1").interval("1s").spawn()?;
    let _b = c.agent("nt-b").department("d1").interval("1s").spawn()?;
    let mut m = c.agent("nt-m").department("d1").interval("1s").spawn()?;
    c.wait_hosts_up(&["nt-a", "nt-b", "nt-m"], Duration::from_secs(30))
        .await?;

    a.stop(Duration::from_secs(10))?;
    m.stop(Duration::from_secs(10))?;
    // Down after 3 intervals, announced after open_after, the first attempts refused and
    // retried 10 s later.
    both_channels(&hook, &smtp, 1, "the opened event").await?;
    a.restart()?;
    both_channels(&hook, &smtp, 2, "the closed event").await?;
    // Give a duplicate or a maintenance host's message every chance to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let hooks: Vec<serde_json::Value> = hook
        .received
        .lock()
        .unwrap()
        .accepted
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let summary: Vec<(String, String)> = hooks
        .iter()
        .map(|h| {
            (
                h["event"].as_str().unwrap().to_owned(),
                h["incident"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("opened".to_string(), "nt-a".to_string()),
            ("closed".to_string(), "nt-a".to_string())
        ],
        "{hooks:#?}"
    );
    assert_eq!(hook.received.lock().unwrap().refused, 1);
    assert_eq!(hooks[0]["incident"]["department"], "d1");
    assert!(
        hooks[1]["duration_seconds"].as_i64().unwrap() >= 3,
        "{}",
        hooks[1]
    );
    assert!(
        hooks[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("[zerofault] incident: host ")
    );

    let mails = smtp.received.lock().unwrap().accepted.clone();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert_eq!(smtp.received.lock().unwrap().refused, 1);
    assert!(
        mails[0].contains("To: noc@example.internal, duty@example.internal"),
        "{}",
        mails[0]
    );
    assert!(mails[0].contains("Subject: =?UTF-8?B?"), "{}", mails[0]);

    // The record: two events, each delivered to both channels, the first after a failure.
    let outbox = std::fs::read_to_string(c.dir().join("notify/outbox.jsonl"))?;
    let lines: Vec<serde_json::Value> = outbox
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events = lines.iter().filter(|l| l["record"] == "event").count();
    let delivered = lines.iter().filter(|l| l["outcome"] == "delivered").count();
    let failed = lines.iter().filter(|l| l["outcome"] == "failed").count();
    assert_eq!((events, delivered, failed), (2, 4, 2), "{outbox}");
    Ok(())
}

/// Waits until the webhook and the relay each took `n` messages.
async fn both_channels(
    hook: &WebhookStub,
    smtp: &SmtpStub,
    n: usize,
    what: &str,
) -> anyhow::Result<()> {
    wait_until(
        &format!("{what} on both channels"),
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async {
            let (h, s) = (
                hook.received.lock().unwrap().accepted.len(),
                smtp.received.lock().unwrap().accepted.len(),
            );
            if h >= n && s >= n {
                Ok(())
            } else {
                Err(format!("webhook {h}, e-mail {s}"))
            }
        },
    )
    .await
}
