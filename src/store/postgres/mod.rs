//! The shared store: PostgreSQL (`[store] url = "postgres://..."`), for several pivot nodes
//! that must read each other's debug log and sessions. The writer owns one connection and
//! runs the shared writer loop as a task; reads and tokens go through a small
//! deadpool-postgres pool. Connections are plain TCP (see docs/scaling.md).

mod arrays;
mod reader;
mod schema;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

pub(crate) use reader::{pool, PgReader, PgSessions};
pub(crate) use schema::migrate;
pub use schema::PG_SCHEMA_VERSION;
pub(crate) use writer::PgBackend;

use super::StoreError;

/// Connecting gives up after this long, unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Any one statement of pivot's may run this long before the server cancels it.
const STATEMENT_TIMEOUT_MS: u64 = 30_000;

/// A parsed `postgres://` URL with pivot's defaults added, and a password-free name for
/// log lines.
#[derive(Clone)]
pub(crate) struct PgTarget {
    pub config: tokio_postgres::Config,
    /// `user@host:port/dbname`, never the password.
    pub name: String,
}

impl PgTarget {
    /// Parses `url`; `node` names the connections (`application_name`) in pg_stat_activity.
    pub(crate) fn parse(url: &str, node: &str) -> Result<Self, StoreError> {
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(StoreError::BadUrl(
                "sslmode=require: pivot connects to PostgreSQL without TLS (use a private network or a TLS tunnel; see docs/scaling.md)".into(),
            ));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(format!("pivot {node}"));
        }
        let options = format!(
            "{} -c statement_timeout={STATEMENT_TIMEOUT_MS}",
            config.get_options().unwrap_or("")
        );
        config.options(options.trim());
        let name = describe(&config);
        Ok(Self { config, name })
    }

    /// A new connection whose driver runs as its own task (it ends with the client).
    pub(crate) async fn connect(&self) -> Result<Client, StoreError> {
        let timeout = self.config.get_connect_timeout().copied();
        let connecting = self.config.connect(NoTls);
        let connected = match timeout {
            // The driver's own timeout covers each address; this one the whole attempt.
            Some(t) => tokio::time::timeout(t + Duration::from_secs(1), connecting)
                .await
                .map_err(|_| StoreError::Timeout("connecting to PostgreSQL"))?,
            None => connecting.await,
        };
        let (client, connection) = connected.map_err(|source| StoreError::PgConnect {
            target: self.name.clone(),
            source,
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(client)
    }
}

fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    format!("{user}@{host}:{port}/{db}")
}

/// PostgreSQL text cannot hold NUL; a web app's body can. Stored as U+FFFD instead.
pub(crate) fn text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_target_name_never_holds_the_password() {
        let t = PgTarget::parse("postgres://pivot:s3cret@db.example:6432/calls", "n1").unwrap();
        assert_eq!(t.name, "pivot@db.example:6432/calls");
        assert_eq!(t.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(t.config.get_application_name(), Some("pivot n1"));
        assert!(t
            .config
            .get_options()
            .unwrap()
            .contains("statement_timeout"));
    }

    #[test]
    fn bad_urls_and_required_tls_are_refused() {
        for url in [
            "postgres://h/db?sslmode=require",
            "postgres://h/db?nonsense=1",
            "mysql://h/db",
        ] {
            assert!(
                matches!(PgTarget::parse(url, "n"), Err(StoreError::BadUrl(_))),
                "{url}"
            );
        }
        let err = PgTarget::parse("postgres://u:pw@h/db?sslmode=require", "n")
            .err()
            .unwrap();
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn nul_becomes_a_replacement_character() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert!(matches!(text("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
