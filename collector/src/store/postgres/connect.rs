//! The connection pool to the database, with TLS on the collector's rustls/ring stack.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;

use super::settings::{Postgres, TlsMode};
use crate::store::api::StoreError;

/// How long opening one connection may take (TCP, TLS, authentication) before it fails:
/// long enough for a database across a slow link, short enough that a dead one is reported
/// while the operator is still watching the start-up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `application_name` of every connection, so that a database administrator sees in
/// `pg_stat_activity` which sessions are collectors.
const APPLICATION_NAME: &str = "zerofault-collector";

/// A bounded pool of `settings.pool_size` connections, opened lazily. A connection found
/// closed when taken is replaced (`RecyclingMethod::Fast`: no query per checkout).
pub(super) fn pool(settings: &Postgres) -> Result<Pool, StoreError> {
    let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
        path: settings.describe(),
        source,
    };
    let mut config = settings
        .client_config()
        .map_err(|e| open_err(format!("storage.postgres.url: {e}").into()))?;
    config
        .connect_timeout(CONNECT_TIMEOUT)
        .application_name(APPLICATION_NAME);
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match settings.tls.mode {
        TlsMode::Disable => {
            config.ssl_mode(SslMode::Disable);
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        }
        TlsMode::VerifyFull => {
            // Require: TLS or no connection. The verification itself (chain to `tls.ca`,
            // the URL's host in the certificate) is rustls' default verifier's.
            config.ssl_mode(SslMode::Require);
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_tls(settings)?);
            Manager::from_config(config, tls, manager_config)
        }
    };
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| open_err(Box::new(e)))
}

/// The rustls client configuration of `storage.postgres.tls`: the server verified against
/// `tls.ca`, and the collector's certificate when `tls.cert` is set.
fn client_tls(settings: &Postgres) -> Result<rustls::ClientConfig, StoreError> {
    let tls = &settings.tls;
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
        path: settings.describe(),
        source,
    };
    let Some(ca) = &tls.ca else {
        return Err(failed(
            "storage.postgres.tls.ca is required with tls.mode verify-full".into(),
        ));
    };
    let identity = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => Some((
            ("storage.postgres.tls.cert", cert.as_path()),
            ("storage.postgres.tls.key", key.as_path()),
        )),
        _ => None,
    };
    crate::tls::client_config(crate::tls::ClientFiles {
        ca: ("storage.postgres.tls.ca", ca),
        identity,
    })
    .map_err(|e| failed(e.into()))
}
