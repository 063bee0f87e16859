//! `fulfil setup`: the topology on SNS/SQS and both databases' schemas, idempotently.

use crate::config::{AwsSettings, SecretUrl, Topology};
use crate::db::{self, Database, DbError};
use crate::queue::topology::{self, Provisioned};
use crate::queue::{AwsClients, Change, ChangeKind, QueueError};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What setup needs: where AWS is, how the topology is named, and both databases.
#[derive(Debug, Clone)]
pub struct SetupSettings {
    pub aws: AwsSettings,
    pub topology: Topology,
    pub write_database_url: SecretUrl,
    pub read_database_url: SecretUrl,
}

/// Everything setup found or did, in order.
#[derive(Debug)]
pub struct SetupReport {
    pub provisioned: Provisioned,
    pub changes: Vec<Change>,
}

impl SetupReport {
    pub fn changed(&self) -> bool {
        self.changes.iter().any(|c| c.kind != ChangeKind::Unchanged)
    }
}

pub async fn run(settings: &SetupSettings) -> Result<SetupReport, SetupError> {
    let aws = AwsClients::connect(&settings.aws).await;
    let (provisioned, mut changes) = topology::ensure(&aws, &settings.topology).await?;
    for (database, url) in [
        (Database::Write, &settings.write_database_url),
        (Database::Read, &settings.read_database_url),
    ] {
        changes.push(migrate(database, url).await?);
    }
    Ok(SetupReport {
        provisioned,
        changes,
    })
}

async fn migrate(database: Database, url: &SecretUrl) -> Result<Change, DbError> {
    let pool = db::connect(database, url, 2).await?;
    let applied = db::migrate(database, &pool).await?;
    pool.close().await;
    let (kind, detail) = match applied {
        0 => (ChangeKind::Unchanged, "schema current".to_owned()),
        n => (ChangeKind::Updated, format!("{n} migration(s) applied")),
    };
    Ok(Change {
        kind,
        resource: format!("{database} {}", url.redacted()),
        detail,
    })
}
