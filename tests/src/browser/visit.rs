//! What one page visit showed: the page's state, its console, its network requests; and the
//! pure reading of chromedriver's logs into those (no I/O here, so it is unit-tested on
//! hand-written log entries).

use std::collections::HashMap;

use serde_json::Value;

/// A page as a test sees it after [`super::Browser::visit`].
#[derive(Debug, Clone)]
pub struct Visit {
    /// `location.href` once loaded (after any redirect).
    pub url: String,
    /// `document.title`.
    pub title: String,
    /// `document.body.innerText`: the text a user sees (hidden elements excluded).
    pub text: String,
    /// `document.documentElement.outerHTML`: the DOM as scripts left it, not the bytes served.
    pub html: String,
    /// Console messages and browser-reported errors (chromedriver's `browser` log), in order.
    pub console: Vec<ConsoleEntry>,
    /// Every request the page made, in the order it was sent, failed ones included
    /// (chromedriver's `performance` log).
    pub requests: Vec<RequestSeen>,
    /// `document.documentElement.scrollWidth`, in CSS pixels.
    pub scroll_width: u64,
    /// `document.documentElement.scrollHeight`, in CSS pixels.
    pub scroll_height: u64,
}

/// One entry of the browser log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleEntry {
    /// Chromedriver's level: `SEVERE` (console.error, uncaught exceptions, failed loads),
    /// `WARNING`, `INFO` (console.log, console.info), `DEBUG`.
    pub level: String,
    /// Where it came from: `console-api` (a console call), `javascript` (an uncaught
    /// exception), `network` (a failed load), ...
    pub source: String,
    /// The text, as chromedriver writes it: `URL LINE:COL "message"` for console calls.
    pub message: String,
}

/// One request the page made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSeen {
    /// The URL requested (for a redirect, each hop is its own entry).
    pub url: String,
    /// The HTTP status of the response, when one arrived.
    pub status: Option<u16>,
    /// Chromium's error text when the load failed (`net::ERR_NAME_NOT_RESOLVED`, ...). A
    /// script or stylesheet answered 404 also ends as `net::ERR_ABORTED` after its status.
    pub error: Option<String>,
}

impl RequestSeen {
    /// True when the request failed or was answered with an HTTP error (>= 400).
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.status.is_some_and(|s| s >= 400)
    }
}

impl Visit {
    /// Everything a user would count as an error: SEVERE console entries (console.error,
    /// uncaught exceptions, loads the browser reported failed) and requests that failed or
    /// were answered >= 400. A failed load usually appears twice, once as each.
    pub fn errors(&self) -> Vec<String> {
        let console = self
            .console
            .iter()
            .filter(|c| c.level == "SEVERE")
            .map(|c| format!("console ({}): {}", c.source, c.message));
        let requests = self.requests.iter().filter(|r| r.failed()).map(|r| {
            format!(
                "request {}: status {}, error {}",
                r.url,
                r.status.map_or("none".to_string(), |s| s.to_string()),
                r.error.as_deref().unwrap_or("none")
            )
        });
        console.chain(requests).collect()
    }

    /// Requests that left the given origin (`http://127.0.0.1:8080`), `data:` and `blob:`
    /// URLs aside (they never reach a network). The origin matches whole: a page at
    /// `http://127.0.0.1:80` does not own `http://127.0.0.1:8080/`.
    pub fn external_requests(&self, origin: &str) -> Vec<&RequestSeen> {
        let origin = origin.trim_end_matches('/');
        self.requests
            .iter()
            .filter(|r| !r.url.starts_with("data:") && !r.url.starts_with("blob:"))
            .filter(|r| !same_origin(&r.url, origin))
            .collect()
    }

    /// True when the document needs no scrolling in a viewport of `width` x `height` CSS
    /// pixels.
    pub fn fits(&self, width: u64, height: u64) -> bool {
        self.scroll_width <= width && self.scroll_height <= height
    }
}

/// `url` is `origin` itself or a path, query or fragment under it.
fn same_origin(url: &str, origin: &str) -> bool {
    url.strip_prefix(origin)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
}

/// The entries of a `POST /se/log {"type":"browser"}` answer.
pub(super) fn console_entries(log: &Value) -> Vec<ConsoleEntry> {
    let text = |e: &Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
    log.as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| ConsoleEntry {
                    level: text(e, "level"),
                    source: text(e, "source"),
                    message: text(e, "message"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// URL schemes of the browser's own pages (the new-tab page it starts on loads hundreds of
/// `chrome://` resources): never a request of the page under test.
const INTERNAL_SCHEMES: &[&str] = &[
    "chrome:",
    "chrome-extension:",
    "chrome-untrusted:",
    "devtools:",
];

/// The page's requests, built from the DevTools `Network.*` events of chromedriver's
/// `performance` log, fed in as they are read (each read drains the log).
#[derive(Debug, Default)]
pub(super) struct Requests {
    seen: Vec<RequestSeen>,
    /// requestId -> index in `seen` of its newest hop (a redirect reuses the requestId).
    by_id: HashMap<String, usize>,
    /// requestIds sent and not yet finished or failed.
    open: HashMap<String, usize>,
}

impl Requests {
    /// Applies the entries of one `POST /se/log {"type":"performance"}` answer; returns how
    /// many were Network events of the page.
    pub(super) fn apply_log(&mut self, log: &Value) -> usize {
        let mut applied = 0;
        for entry in log.as_array().into_iter().flatten() {
            // Each entry's `message` is a JSON text: {"message":{"method","params"},"webview"}.
            let Some(Ok(inner)) = entry["message"].as_str().map(serde_json::from_str::<Value>)
            else {
                continue;
            };
            let event = &inner["message"];
            if let Some(method) = event["method"].as_str()
                && self.apply(method, &event["params"])
            {
                applied += 1;
            }
        }
        applied
    }

    /// Applies one DevTools event; true when it concerned a request of the page.
    fn apply(&mut self, method: &str, params: &Value) -> bool {
        let Some(id) = params["requestId"].as_str() else {
            return false;
        };
        match method {
            "Network.requestWillBeSent" => {
                let url = params["request"]["url"].as_str().unwrap_or_default();
                // The document that made the request: the new-tab page's `data:` images
                // are the browser's too.
                let document = params["documentURL"].as_str().unwrap_or_default();
                if [url, document]
                    .iter()
                    .any(|u| INTERNAL_SCHEMES.iter().any(|s| u.starts_with(s)))
                {
                    return false;
                }
                // A redirect: the same requestId again, with the previous hop's response.
                if let Some(&prev) = self.by_id.get(id)
                    && let Some(status) = status_of(&params["redirectResponse"])
                {
                    self.seen[prev].status = Some(status);
                }
                self.seen.push(RequestSeen {
                    url: url.to_string(),
                    status: None,
                    error: None,
                });
                self.by_id.insert(id.to_string(), self.seen.len() - 1);
                self.open.insert(id.to_string(), self.seen.len() - 1);
                true
            }
            "Network.responseReceived" => match self.by_id.get(id) {
                Some(&i) => {
                    self.seen[i].status = status_of(&params["response"]);
                    true
                }
                None => false,
            },
            "Network.loadingFinished" => self.open.remove(id).is_some(),
            "Network.loadingFailed" => match self.open.remove(id) {
                Some(i) => {
                    let mut error = params["errorText"].as_str().unwrap_or("failed").to_string();
                    // Why Chromium itself refused it (CSP, mixed content, ...), when it did.
                    if let Some(reason) = params["blockedReason"].as_str() {
                        error.push_str(&format!(" (blocked: {reason})"));
                    }
                    self.seen[i].error = Some(error);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// URLs of the requests still in flight.
    pub(super) fn open_urls(&self) -> Vec<&str> {
        let mut open: Vec<usize> = self.open.values().copied().collect();
        open.sort_unstable();
        open.into_iter()
            .map(|i| self.seen[i].url.as_str())
            .collect()
    }

    /// The requests seen so far.
    pub(super) fn into_seen(self) -> Vec<RequestSeen> {
        self.seen
    }
}

/// The `status` of a DevTools `Response` object (a JSON number, sometimes written `404.0`).
fn status_of(response: &Value) -> Option<u16> {
    let status = response["status"].as_f64()?;
    (0.0..=f64::from(u16::MAX))
        .contains(&status)
        .then_some(status as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A performance log entry as chromedriver writes it.
    fn perf(method: &str, params: Value) -> Value {
        json!({
            "level": "INFO",
            "message": json!({"message": {"method": method, "params": params}, "webview": "W"})
                .to_string(),
            "timestamp": 1,
        })
    }

    fn sent(id: &str, url: &str) -> Value {
        perf(
            "Network.requestWillBeSent",
            json!({"requestId": id, "request": {"url": url}}),
        )
    }

    #[test]
    fn requests_are_built_from_network_events() {
        let log = json!([
            sent("ntp", "chrome://new-tab-page/app.js"),
            perf(
                "Network.requestWillBeSent",
                json!({"requestId": "ntp.2", "request": {"url": "data:image/gif;base64,R0lG"},
                       "documentURL": "chrome://new-tab-page/"})
            ),
            sent("1", "http://127.0.0.1:9/"),
            perf(
                "Network.responseReceived",
                json!({"requestId": "1", "response": {"status": 200}})
            ),
            perf("Network.loadingFinished", json!({"requestId": "1"})),
            sent("2", "http://127.0.0.1:9/missing.js"),
            sent("3", "http://example.invalid/x.png"),
            perf(
                "Network.loadingFailed",
                json!({"requestId": "3", "errorText": "net::ERR_NAME_NOT_RESOLVED"})
            ),
            perf(
                "Network.responseReceived",
                json!({"requestId": "2", "response": {"status": 404.0}})
            ),
            perf(
                "Network.loadingFailed",
                json!({"requestId": "2", "errorText": "net::ERR_ABORTED"})
            ),
            perf(
                "Network.responseReceived",
                json!({"requestId": "ntp", "response": {"status": 200}})
            ),
            perf("Page.frameNavigated", json!({})),
        ]);
        let mut requests = Requests::default();
        assert_eq!(requests.apply_log(&log), 8);
        assert!(requests.open_urls().is_empty());
        let seen = requests.into_seen();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0].status, Some(200));
        assert!(!seen[0].failed());
        assert_eq!(seen[1].status, Some(404));
        assert!(seen[1].failed());
        assert_eq!(seen[2].status, None);
        assert_eq!(seen[2].error.as_deref(), Some("net::ERR_NAME_NOT_RESOLVED"));
    }

    #[test]
    fn a_redirect_is_one_entry_per_hop_and_open_requests_are_listed() {
        let log = json!([
            sent("1", "http://127.0.0.1:9/old"),
            perf(
                "Network.requestWillBeSent",
                json!({"requestId": "1", "request": {"url": "http://127.0.0.1:9/new"},
                       "redirectResponse": {"status": 301}})
            ),
            sent("2", "http://127.0.0.1:9/events"),
        ]);
        let mut requests = Requests::default();
        requests.apply_log(&log);
        assert_eq!(
            requests.open_urls(),
            ["http://127.0.0.1:9/new", "http://127.0.0.1:9/events"]
        );
        let seen = requests.into_seen();
        assert_eq!(seen[0].status, Some(301));
        assert_eq!(seen[1].url, "http://127.0.0.1:9/new");
    }

    #[test]
    fn errors_and_external_requests() {
        let request = |url: &str, status, error: Option<&str>| RequestSeen {
            url: url.to_string(),
            status,
            error: error.map(str::to_string),
        };
        let visit = Visit {
            url: "http://127.0.0.1:80/".into(),
            title: String::new(),
            text: String::new(),
            html: String::new(),
            console: console_entries(&json!([
                {"level": "SEVERE", "source": "console-api", "message": "u 1:2 \"boom\""},
                {"level": "INFO", "source": "console-api", "message": "u 1:3 \"hi\""},
            ])),
            requests: vec![
                request("http://127.0.0.1:80/", Some(200), None),
                request("http://127.0.0.1:80?x", Some(500), None),
                request("http://127.0.0.1:8080/a", Some(200), None),
                request("data:image/png;base64,AA==", Some(200), None),
                request("blob:http://127.0.0.1:80/1", Some(200), None),
                request(
                    "http://example.invalid/x.png",
                    None,
                    Some("net::ERR_NAME_NOT_RESOLVED"),
                ),
            ],
            scroll_width: 1920,
            scroll_height: 1081,
        };
        let errors = visit.errors();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("boom"));
        assert!(errors[1].contains("status 500"));
        assert!(errors[2].contains("ERR_NAME_NOT_RESOLVED"));
        let external: Vec<&str> = visit
            .external_requests("http://127.0.0.1:80/")
            .iter()
            .map(|r| r.url.as_str())
            .collect();
        assert_eq!(
            external,
            ["http://127.0.0.1:8080/a", "http://example.invalid/x.png"]
        );
        assert!(!visit.fits(1920, 1080));
        assert!(visit.fits(1920, 1081));
    }
}
