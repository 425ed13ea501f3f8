//! Where the mocks keep state: PostgreSQL for tenants and events and Redis
//! for caches when given URLs (real connections, so stopping PostgreSQL or
//! Redis produces real errors), else memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

pub const POOL_SIZE: usize = 8;

pub enum Store {
    Memory {
        events: std::sync::atomic::AtomicU64,
    },
    Postgres(Pool),
}

impl Store {
    /// Connect, create the schema, and register the tenants.
    pub async fn connect(url: Option<&str>, tenants: u32) -> anyhow::Result<Store> {
        let Some(url) = url else {
            return Ok(Store::Memory {
                events: Default::default(),
            });
        };
        let pg: tokio_postgres::Config = url.parse().context("parsing the PostgreSQL URL")?;
        let mgr = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(POOL_SIZE)
            // A slow database makes requests slow, not failed: a new
            // connection is several round trips.
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .context("building the PostgreSQL pool")?;
        let client = pool.get().await.context("connecting to PostgreSQL")?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
                 CREATE TABLE IF NOT EXISTS events (id BIGSERIAL PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id),
                     user_id TEXT NOT NULL, item_id TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now());",
            )
            .await
            .context("creating the schema")?;
        client
            .execute(
                "INSERT INTO tenants (id) SELECT 'tenant_' || lpad(n::text, 3, '0') FROM generate_series(1, $1::int) n ON CONFLICT DO NOTHING",
                &[&(tenants as i32)],
            )
            .await
            .context("registering tenants")?;
        Ok(Store::Postgres(pool))
    }

    /// `db_connection_pool_size{pool_name}`: "primary" for PostgreSQL,
    /// "memory" for the in-memory store (one "connection").
    pub fn pool_name(&self) -> &'static str {
        match self {
            Store::Memory { .. } => "memory",
            Store::Postgres(_) => "primary",
        }
    }

    pub fn pool_size(&self) -> usize {
        match self {
            Store::Memory { .. } => 1,
            Store::Postgres(p) => p.status().size,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// Whether the tenant is registered (memory: the caller's bound check).
    pub async fn tenant_exists(&self, tenant: &str) -> anyhow::Result<bool> {
        match self {
            Store::Memory { .. } => Ok(true),
            Store::Postgres(p) => {
                let c = p.get().await?;
                let row = c
                    .query_opt("SELECT 1 FROM tenants WHERE id = $1", &[&tenant])
                    .await?;
                Ok(row.is_some())
            }
        }
    }

    pub async fn insert_event(&self, tenant: &str, user: &str, item: &str) -> anyhow::Result<()> {
        match self {
            Store::Memory { events } => {
                events.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Store::Postgres(p) => {
                let c = p.get().await?;
                c.execute(
                    "INSERT INTO events (tenant_id, user_id, item_id) VALUES ($1, $2, $3)",
                    &[&tenant, &user, &item],
                )
                .await?;
                Ok(())
            }
        }
    }
}

/// A string cache with a TTL: Redis, or a bounded in-memory map.
pub enum Cache {
    Memory(Mutex<HashMap<String, (Instant, String)>>),
    Redis(redis::aio::ConnectionManager),
}

const MEMORY_CAP: usize = 100_000;

impl Cache {
    pub async fn connect(url: Option<&str>) -> anyhow::Result<Cache> {
        let Some(url) = url else {
            return Ok(Cache::Memory(Mutex::new(HashMap::new())));
        };
        let client = redis::Client::open(url).context("parsing the Redis URL")?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(1);
        let mgr = tokio::time::timeout(
            Duration::from_secs(5),
            redis::aio::ConnectionManager::new_with_config(client, cfg),
        )
        .await
        .context("timed out after 5s connecting to Redis")?
        .context("connecting to Redis")?;
        Ok(Cache::Redis(mgr))
    }

    pub fn is_redis(&self) -> bool {
        matches!(self, Cache::Redis(_))
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        match self {
            Cache::Memory(m) => {
                let map = m.lock().expect("cache poisoned");
                Ok(map
                    .get(key)
                    .filter(|(exp, _)| *exp > Instant::now())
                    .map(|(_, v)| v.clone()))
            }
            Cache::Redis(c) => {
                let mut c = c.clone();
                Ok(redis::cmd("GET").arg(key).query_async(&mut c).await?)
            }
        }
    }

    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
        match self {
            Cache::Memory(m) => {
                let mut map = m.lock().expect("cache poisoned");
                if map.len() >= MEMORY_CAP {
                    let now = Instant::now();
                    map.retain(|_, (exp, _)| *exp > now);
                    // A sweep must leave room for many inserts: entries
                    // that expire one by one would otherwise make every
                    // insert sweep all of them.
                    if map.len() >= MEMORY_CAP - MEMORY_CAP / 10 {
                        map.clear();
                    }
                }
                map.insert(key.to_string(), (Instant::now() + ttl, value.to_string()));
                Ok(())
            }
            Cache::Redis(c) => {
                let mut c = c.clone();
                let _: () = redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl.as_millis() as u64)
                    .query_async(&mut c)
                    .await?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_memory_cache_is_swept_with_room_to_spare() {
        let c = Cache::Memory(Mutex::new(HashMap::new()));
        let ttl = Duration::from_secs(60);
        for i in 0..MEMORY_CAP {
            c.set(&format!("k{i}"), "v", ttl).await.unwrap();
        }
        c.set("one more", "v", ttl).await.unwrap();
        let Cache::Memory(m) = &c else {
            unreachable!("built as memory")
        };
        let len = m.lock().unwrap().len();
        assert!(len <= MEMORY_CAP - MEMORY_CAP / 10, "{len}");
        assert_eq!(c.get("one more").await.unwrap().as_deref(), Some("v"));
    }
}
