//! Where a store test's database lives: a SQLite file in a temporary directory, or a fresh
//! schema in the PostgreSQL database named by `PIVOT_TEST_POSTGRES` (dropped afterwards).
//! Without that variable the PostgreSQL tests say on stderr that they were skipped and why.

use std::io::Write;

use tokio_postgres::NoTls;

use crate::store::{Database, Store, StoreConfig};

/// The variable naming the test database: `postgres://user:password@host:port/dbname`.
pub(crate) const ENV: &str = "PIVOT_TEST_POSTGRES";

pub(crate) enum Fixture {
    Sqlite(tempfile::TempDir),
    Postgres(PgSchema),
}

impl Fixture {
    pub(crate) fn sqlite() -> Fixture {
        Fixture::Sqlite(tempfile::tempdir().expect("a temporary directory"))
    }

    /// None (after a line on stderr) when no test database is configured.
    pub(crate) async fn postgres(test: &str) -> Option<Fixture> {
        Some(Fixture::Postgres(PgSchema::create(test).await?))
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Fixture::Postgres(_))
    }

    /// A config for one node on this database.
    pub(crate) fn config(&self, node: &str) -> StoreConfig {
        let database = match self {
            Fixture::Sqlite(dir) => Database::Sqlite(dir.path().join("debug.db")),
            Fixture::Postgres(pg) => Database::Postgres(pg.url.clone()),
        };
        StoreConfig {
            database,
            node: node.into(),
            ..StoreConfig::new("")
        }
    }

    pub(crate) async fn open(&self, node: &str) -> Store {
        crate::store::open(&self.config(node))
            .await
            .expect("open the store")
    }

    /// Runs SQL on the test database with a connection of its own (PostgreSQL only).
    pub(crate) async fn pg_admin(&self) -> Option<tokio_postgres::Client> {
        match self {
            Fixture::Postgres(pg) => Some(connect(&pg.url).await),
            Fixture::Sqlite(_) => None,
        }
    }
}

/// Tells the person running the tests (past the test harness's capture) that a test did
/// not run, and why.
pub(crate) fn skipped(test: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {ENV} is not set (a postgres:// URL of a database the tests may create schemas in; .ci/run sets one up)"
    );
}

pub(crate) async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("{ENV} is set but PostgreSQL cannot be reached: {e}"));
    tokio::spawn(conn);
    client
}

/// A schema of its own for one test, so tests run in parallel on one database.
pub(crate) struct PgSchema {
    base: String,
    name: String,
    /// The base URL with this schema as `search_path`.
    pub(crate) url: String,
}

impl PgSchema {
    pub(crate) async fn create(test: &str) -> Option<PgSchema> {
        let Ok(base) = std::env::var(ENV) else {
            skipped(test);
            return None;
        };
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        connect(&base)
            .await
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create a test schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{name}");
        Some(PgSchema { base, name, url })
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop may run on the test's runtime: clean up on a thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok((client, conn)) = tokio_postgres::connect(&base, NoTls).await {
                    tokio::spawn(conn);
                    // A test that failed may leave a session holding locks: give up then.
                    let sql =
                        format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE");
                    let _ = client.batch_execute(&sql).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
