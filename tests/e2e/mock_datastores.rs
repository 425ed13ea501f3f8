//! The mocks against a real PostgreSQL and Redis started the way the native
//! provider starts them: data really lands there, and stopping them
//! produces the errors (and cache misses) that DatabaseDown and
//! CacheHitRateLow exist for.

use crate::common;

use std::time::Duration;

use zeta_bench::mock::MockConfig;
use zeta_bench::stack::components::postgresql::server::{self as datastores, init_postgres};
use zeta_bench::stack::components::redis::redis_spec;
use zeta_bench::stack::process::{Supervised, free_port, which};

fn datastores() -> common::Need {
    common::Need::unless(
        datastores::pg_bin("initdb").is_some() && which("redis-server").is_some(),
        "postgresql or redis-server is not installed",
    )
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
async fn backend_api_uses_real_postgres_and_redis_and_fails_honestly_without_them() {
    needs!(datastores());
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let pg_data = init_postgres(
        &dir.path().join("initdb.log"),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("initdb");
    let pg_port = free_port().unwrap();
    let mut pg = Supervised::new(
        pg_data
            .spec(pg_port, dir.path().join("pg.log"), None)
            .unwrap(),
    );
    pg.start(&http).await.expect("postgres starts");
    // Password authentication: no password, or a wrong one, is refused.
    for conn in [
        format!("host=127.0.0.1 port={pg_port} user=zeta dbname=postgres connect_timeout=2"),
        datastores::conn_string(pg_port, "wrong-password"),
    ] {
        assert!(
            tokio_postgres::connect(&conn, tokio_postgres::NoTls)
                .await
                .is_err(),
            "PostgreSQL let in {conn}"
        );
    }
    let redis_port = free_port().unwrap();
    let mut redis = Supervised::new(
        redis_spec(
            which("redis-server").unwrap(),
            redis_port,
            &dir.path().join("redis"),
            dir.path().join("redis.log"),
            None,
        )
        .unwrap(),
    );
    redis.start(&http).await.expect("redis starts");

    let mut cfg = MockConfig::in_memory();
    cfg.tenants = 10;
    cfg.database_url = Some(datastores::url(pg_port, &pg_data.password));
    cfg.redis_url = Some(format!("redis://127.0.0.1:{redis_port}"));
    let b = serve(
        zeta_bench::mock::backend::build(&cfg)
            .await
            .expect("backend connects"),
    )
    .await;

    let event = |body: &'static str| {
        let (http, b) = (http.clone(), b.clone());
        async move {
            let r = http
                .post(format!("{b}/api/v1/events"))
                .header("x-tenant-id", "tenant_002")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let rec = || {
        let (http, b) = (http.clone(), b.clone());
        async move {
            let r = http
                .get(format!("{b}/api/v1/recommendations?user_id=user_1&k=3"))
                .header("x-tenant-id", "tenant_002")
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        event(r#"{"user_id":"user_1","item_id":"item_9"}"#).await.0,
        202
    );
    assert_eq!(rec().await.0, 200);
    assert_eq!(rec().await.0, 200);

    // The event is a row in PostgreSQL; the recommendation a key in Redis.
    let (client, conn) = tokio_postgres::connect(
        &datastores::conn_string(pg_port, &pg_data.password),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE tenant_id = 'tenant_002' AND item_id = 'item_9'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    let tenants: i64 = client
        .query_one("SELECT count(*) FROM tenants", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tenants, 10);
    drop(client);
    let r = redis::Client::open(format!("redis://127.0.0.1:{redis_port}")).unwrap();
    let mut c = r.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("rec:*")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(keys, vec!["rec:tenant_002:user_1:3".to_string()]);
    let m = http
        .get(format!("{b}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(r#"cache_hits_total{cache_type="recommendation"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"db_connection_pool_size{pool_name="primary"}"#),
        "{m}"
    );
    assert!(
        m.contains(r#"db_query_duration_seconds_count{query_type="insert_event"} 1"#),
        "{m}"
    );

    // PostgreSQL down: requests fail with 503, naming the database.
    assert!(
        pg.stop(Duration::from_secs(10)).await,
        "postgres stops on SIGINT"
    );
    let (code, body) = event(r#"{"user_id":"user_1","item_id":"item_9"}"#).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("database unavailable"), "{body}");
    assert!(
        !body.contains("zeta@"),
        "no connection string in errors: {body}"
    );
    assert_eq!(rec().await.0, 503);
    // Back up: the pool reconnects.
    pg.start(&http).await.expect("postgres restarts");
    let mut ok = false;
    for _ in 0..20 {
        if event(r#"{"user_id":"user_2","item_id":"item_1"}"#).await.0 == 202 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok, "backend-api recovers when PostgreSQL is back");

    // Redis down: recommendations still work, as misses.
    redis.stop(Duration::from_secs(5)).await;
    assert_eq!(rec().await.0, 200);
    let m = http
        .get(format!("{b}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(r#"cache_misses_total{cache_type="recommendation"} 2"#),
        "{m}"
    );
    pg.stop(Duration::from_secs(10)).await;
    drop(pg_data);
}
