//! What a probe target may be, per kind, and host-name resolution with a small cache.
//!
//! | kind | target |
//! | --- | --- |
//! | icmp | an IPv4 or IPv6 address, or a host name |
//! | tcp  | `host:port` or `[IPv6]:port` |
//! | http | an `http://` or `https://` URL (no credentials: the target is sent in reports) |
//!
//! The parsers are pure so the config, the `probe` command and the tests share them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::kind::{ErrorKind, LinkKind};

/// How long a resolved address is reused: long enough that hundreds of targets at 1 packet/s
/// do not ask the resolver every second, short enough to follow a renumbered host.
pub const RESOLVE_TTL: Duration = Duration::from_secs(60);

/// A host: an address, or a name resolved when probing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A literal address.
    Ip(IpAddr),
    /// A DNS (or /etc/hosts) name.
    Name(String),
}

impl Host {
    /// Parses an address or a host name (RFC 1123 labels: letters, digits, '-'; 1-63 bytes
    /// each; at most 253 bytes).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        if is_host_name(text) {
            Ok(Host::Name(text.to_owned()))
        } else {
            Err(format!("{text:?} is neither an IP address nor a host name"))
        }
    }
}

fn is_host_name(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// ICMP echo to a host.
    Icmp(Host),
    /// TCP connect to a host and port.
    Tcp(Host, u16),
    /// HTTP(S) GET of a URL.
    Http(reqwest::Url),
}

/// Parses `text` as a target of `kind`; the error says what is wrong and how to write it.
pub fn parse_target(kind: LinkKind, text: &str) -> Result<Target, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("is required; {}", example(kind)));
    }
    match kind {
        LinkKind::Icmp => {
            if text.parse::<SocketAddr>().is_ok() || split_host_port(text).is_some() {
                return Err(format!(
                    "{text:?} has a port; an ICMP target is an address or host name (use kind: tcp to probe host:port)"
                ));
            }
            Host::parse(text)
                .map(Target::Icmp)
                .map_err(|e| format!("{e}; {}", example(kind)))
        }
        LinkKind::Tcp => {
            if let Ok(sa) = text.parse::<SocketAddr>() {
                return check_port(sa.port()).map(|p| Target::Tcp(Host::Ip(sa.ip()), p));
            }
            let Some((host, port)) = split_host_port(text) else {
                return Err(format!("{text:?} has no port; {}", example(kind)));
            };
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("{text:?}: port {port:?} is not a number 1-65535"))?;
            let port = check_port(port)?;
            let host = Host::parse(host).map_err(|e| format!("{e}; {}", example(kind)))?;
            Ok(Target::Tcp(host, port))
        }
        LinkKind::Http => {
            let url = reqwest::Url::parse(text)
                .map_err(|e| format!("{text:?} is not a URL ({e}); {}", example(kind)))?;
            if url.scheme() != "http" && url.scheme() != "https" {
                return Err(format!(
                    "{text:?} uses {}://; use http:// or https://",
                    url.scheme()
                ));
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("{text:?} has no host; {}", example(kind)));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(format!(
                    "{text:?} contains credentials; targets are sent in every report, remove them"
                ));
            }
            Ok(Target::Http(url))
        }
    }
}

/// `host:port` (the host without ':') or `[v6]:port`.
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host, port));
    }
    let (host, port) = text.rsplit_once(':')?;
    (!host.contains(':') && !port.is_empty()).then_some((host, port))
}

fn check_port(port: u16) -> Result<u16, String> {
    if port == 0 {
        Err("port 0 cannot be connected to; give the service's port (1-65535)".into())
    } else {
        Ok(port)
    }
}

fn example(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::Icmp => {
            "write an address or host name, e.g. 198.18.0.2, 2001:db8::2 or gw.city.example"
        }
        LinkKind::Tcp => "write host:port, e.g. 198.18.0.2:443 or [2001:db8::2]:443",
        LinkKind::Http => "write a URL, e.g. https://portal.city.example/health",
    }
}

/// The kind the `probe` command guesses for a target: `http` for a URL, `tcp` for
/// `host:port`, else `icmp`.
pub fn guess_kind(text: &str) -> LinkKind {
    let t = text.trim();
    if t.starts_with("http://") || t.starts_with("https://") {
        LinkKind::Http
    } else if t.parse::<SocketAddr>().is_ok() || split_host_port(t).is_some() {
        LinkKind::Tcp
    } else {
        LinkKind::Icmp
    }
}

/// A host resolved on demand, reusing the answer for [`RESOLVE_TTL`].
#[derive(Debug)]
pub struct Resolver {
    host: Host,
    cache: Mutex<Option<(Instant, IpAddr)>>,
}

impl Resolver {
    /// A resolver for `host`; a literal address never touches the resolver.
    pub fn new(host: Host) -> Self {
        Self {
            host,
            cache: Mutex::new(None),
        }
    }

    /// The host as given.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The address to probe. `accept` filters address families (e.g. only those with an
    /// open ICMP socket). A failure is [`ErrorKind::Other`]: the path was not tested.
    pub async fn resolve(
        &self,
        accept: impl Fn(&IpAddr) -> bool,
    ) -> Result<IpAddr, (ErrorKind, String)> {
        let name = match &self.host {
            Host::Ip(ip) => return Ok(*ip),
            Host::Name(n) => n,
        };
        if let Some((at, ip)) = *self.cache.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < RESOLVE_TTL
        {
            return Ok(ip);
        }
        let addrs = tokio::net::lookup_host((name.as_str(), 0))
            .await
            .map_err(|e| (ErrorKind::Other, format!("cannot resolve {name}: {e}")))?;
        let ip = addrs
            .map(|sa| sa.ip())
            .find(|ip| accept(ip))
            .ok_or_else(|| {
                (
                    ErrorKind::Other,
                    format!("{name} has no address of a usable family"),
                )
            })?;
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), ip));
        Ok(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn icmp_targets() {
        assert_eq!(
            parse_target(LinkKind::Icmp, "198.18.0.2"),
            Ok(Target::Icmp(ip("198.18.0.2")))
        );
        assert_eq!(
            parse_target(LinkKind::Icmp, "2001:db8::2"),
            Ok(Target::Icmp(ip("2001:db8::2")))
        );
        assert_eq!(
            parse_target(LinkKind::Icmp, "gw.city.example"),
            Ok(Target::Icmp(Host::Name("gw.city.example".into())))
        );
        let e = parse_target(LinkKind::Icmp, "198.18.0.2:80").unwrap_err();
        assert!(e.contains("kind: tcp"), "{e}");
        let e = parse_target(LinkKind::Icmp, "a b").unwrap_err();
        assert!(e.contains("neither"), "{e}");
        assert!(
            parse_target(LinkKind::Icmp, "")
                .unwrap_err()
                .contains("required")
        );
        assert!(parse_target(LinkKind::Icmp, "-bad.example").is_err());
    }

    #[test]
    fn tcp_targets() {
        assert_eq!(
            parse_target(LinkKind::Tcp, "198.18.0.2:443"),
            Ok(Target::Tcp(ip("198.18.0.2"), 443))
        );
        assert_eq!(
            parse_target(LinkKind::Tcp, "[2001:db8::2]:22"),
            Ok(Target::Tcp(ip("2001:db8::2"), 22))
        );
        assert_eq!(
            parse_target(LinkKind::Tcp, "db.city.example:5432"),
            Ok(Target::Tcp(Host::Name("db.city.example".into()), 5432))
        );
        assert!(
            parse_target(LinkKind::Tcp, "198.18.0.2")
                .unwrap_err()
                .contains("no port")
        );
        assert!(
            parse_target(LinkKind::Tcp, "2001:db8::2")
                .unwrap_err()
                .contains("no port")
        );
        assert!(
            parse_target(LinkKind::Tcp, "h:0")
                .unwrap_err()
                .contains("port 0")
        );
        assert!(
            parse_target(LinkKind::Tcp, "h:99999")
                .unwrap_err()
                .contains("1-65535")
        );
    }

    #[test]
    fn http_targets() {
        assert!(matches!(
            parse_target(LinkKind::Http, "https://portal.example/health"),
            Ok(Target::Http(_))
        ));
        assert!(
            parse_target(LinkKind::Http, "ftp://x/")
                .unwrap_err()
                .contains("http://")
        );
        assert!(parse_target(LinkKind::Http, "portal.example").is_err());
        assert!(
            parse_target(LinkKind::Http, "https://u:p@portal.example/")
                .unwrap_err()
                .contains("credentials")
        );
    }

    #[test]
    fn kind_guess() {
        assert_eq!(guess_kind("127.0.0.1"), LinkKind::Icmp);
        assert_eq!(guess_kind("::1"), LinkKind::Icmp);
        assert_eq!(guess_kind("gw.example"), LinkKind::Icmp);
        assert_eq!(guess_kind("127.0.0.1:22"), LinkKind::Tcp);
        assert_eq!(guess_kind("[::1]:22"), LinkKind::Tcp);
        assert_eq!(guess_kind("gw.example:443"), LinkKind::Tcp);
        assert_eq!(guess_kind("https://gw.example/"), LinkKind::Http);
        assert_eq!(guess_kind("http://gw.example:8080/x"), LinkKind::Http);
    }

    #[tokio::test]
    async fn literal_addresses_skip_the_resolver_and_names_resolve() {
        let r = Resolver::new(ip("198.18.0.9"));
        assert_eq!(
            r.resolve(|_| true).await.unwrap(),
            "198.18.0.9".parse::<IpAddr>().unwrap()
        );
        let r = Resolver::new(Host::Name("localhost".into()));
        let got = r.resolve(|ip| ip.is_ipv4()).await.unwrap();
        assert!(got.is_loopback());
        let r = Resolver::new(Host::Name("localhost".into()));
        assert!(r.resolve(|_| false).await.is_err());
    }
}
