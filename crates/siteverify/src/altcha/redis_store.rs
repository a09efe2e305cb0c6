//! The replay store in Redis, for several app instances behind one load balancer.

use std::{fmt, time::Duration};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{ChallengeId, ReplayStore, Spend, StoreError, StoreFuture};

/// How long one store call may take; past it the challenge is refused (fail closed) rather
/// than the signup left hanging.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Spent challenges in Redis: one `SET <prefix><id> 1 NX PX <ttl>` per verification, over a
/// multiplexed connection that reconnects by itself (redis-rs's `ConnectionManager`).
///
/// Every app instance that shares the Redis (and the key prefix) refuses a challenge any of
/// them accepted. When Redis cannot be reached, verification fails with
/// `provider_unavailable`: a replay cannot be told from a first use without it.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`, `rediss://` for TLS is not compiled in),
    /// keys prefixed `altcha:spent:`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_prefix(url, "altcha:spent:").await
    }

    /// Connects with another key prefix (one per site sharing a Redis).
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<Self, StoreError> {
        // The URL is not repeated in errors: it may carry a password.
        let client = redis::Client::open(url).map_err(|e| {
            StoreError::Unavailable(format!("invalid Redis URL ({})", describe(&e)))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT));
        let connection = tokio::time::timeout(
            CALL_TIMEOUT * 2,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StoreError::Unavailable("connecting to Redis timed out".to_owned()))?
        .map_err(|e| StoreError::Unavailable(format!("connecting to Redis: {}", describe(&e))))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
        })
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl ReplayStore for RedisStore {
    fn spend<'a>(&'a self, id: &'a ChallengeId, ttl: Duration) -> StoreFuture<'a> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let mut command = redis::cmd("SET");
            command
                .arg(format!("{}{}", self.prefix, id.to_hex()))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms);
            let set = command.query_async::<Option<String>>(&mut connection);
            match tokio::time::timeout(CALL_TIMEOUT, set).await {
                Ok(Ok(Some(_ok))) => Ok(Spend::First),
                Ok(Ok(None)) => Ok(Spend::Again),
                Ok(Err(e)) => Err(StoreError::Unavailable(format!("Redis: {}", describe(&e)))),
                Err(_) => Err(StoreError::Unavailable("Redis timed out".to_owned())),
            }
        })
    }
}

/// What went wrong, by kind only: a Redis error's text may quote the URL, password included.
fn describe(error: &redis::RedisError) -> String {
    format!("{:?}", error.kind())
}
