//! The kinds of link probe and the kinds of probe failure, with their protocol names: the
//! words every link probe file, the target syntax and the statistics share.

use std::fmt;
use std::io;

/// What kind of probe a target gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkKind {
    /// ICMP echo request / reply.
    Icmp,
    /// TCP connect (the three-way handshake).
    Tcp,
    /// HTTP or HTTPS GET, up to the response headers.
    Http,
}

impl LinkKind {
    /// Every kind, in table order.
    pub const ALL: [LinkKind; 3] = [LinkKind::Icmp, LinkKind::Tcp, LinkKind::Http];

    /// The protocol's name of the kind (`zerofault_protocol::LINK_KINDS`).
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Icmp => "icmp",
            LinkKind::Tcp => "tcp",
            LinkKind::Http => "http",
        }
    }

    /// Parses a protocol kind name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one probe failed; the protocol's `ErrorCount.kind`. Every failure counts as lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// No answer within the probe's timeout.
    Timeout,
    /// The network said the destination cannot be reached (ICMP destination unreachable or
    /// time exceeded, `EHOSTUNREACH`, `ENETUNREACH`).
    Unreachable,
    /// The host answered the TCP SYN with a reset (`ECONNREFUSED`): the host is up, the
    /// service is not.
    Refused,
    /// The TLS handshake failed (untrusted or expired certificate, wrong name, protocol).
    Tls,
    /// The HTTP server answered with a status of 400 or more.
    HttpStatus,
    /// Anything else (name resolution, local socket errors).
    Other,
}

impl ErrorKind {
    /// Every kind, in the order errors are reported.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Timeout,
        ErrorKind::Unreachable,
        ErrorKind::Refused,
        ErrorKind::Tls,
        ErrorKind::HttpStatus,
        ErrorKind::Other,
    ];

    /// The protocol's name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Refused => "refused",
            ErrorKind::Tls => "tls",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error kind of a socket error (shared with the TCP probe).
pub fn io_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            ErrorKind::Unreachable
        }
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_errors_map_to_kinds() {
        assert_eq!(
            io_kind(&io::Error::from(io::ErrorKind::ConnectionRefused)),
            ErrorKind::Refused
        );
        assert_eq!(
            io_kind(&io::Error::from_raw_os_error(113)),
            ErrorKind::Unreachable
        ); // EHOSTUNREACH
        assert_eq!(
            io_kind(&io::Error::from_raw_os_error(101)),
            ErrorKind::Unreachable
        ); // ENETUNREACH
        assert_eq!(
            io_kind(&io::Error::from(io::ErrorKind::TimedOut)),
            ErrorKind::Timeout
        );
        assert_eq!(io_kind(&io::Error::other("x")), ErrorKind::Other);
    }
}
