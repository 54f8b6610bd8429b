//! The backend's errors as [`StoreError`]s, with their causes in the message.

use deadpool_postgres::PoolError;

use crate::store::api::StoreError;

/// A failed statement or a lost connection is the backend's error. The client's own message
/// is only "db error" or "error connecting to server", with the server's words in its
/// source, so the whole chain goes into the message that reaches logs and answers.
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Backend {
            source: with_causes(&e).into(),
        }
    }
}

/// No connection from the pool: closed by `close`, or the database unreachable.
impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Closed => StoreError::Closed,
            e => StoreError::Backend {
                source: with_causes(&e).into(),
            },
        }
    }
}

/// `e` and its sources, `: `-separated: the pool's and the client's errors say what failed
/// ("error performing TLS handshake") and leave why ("invalid peer certificate:
/// UnknownIssuer") to their source, which an operator needs to see.
pub(super) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some wrappers repeat their source's message in their own.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error performing TLS handshake")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_causes_are_in_the_message() {
        let e = Outer(std::io::Error::other(
            "invalid peer certificate: UnknownIssuer",
        ));
        assert_eq!(
            with_causes(&e),
            "error performing TLS handshake: invalid peer certificate: UnknownIssuer"
        );
    }
}
