//! A `redis-server` of the test's own on a free loopback port, for what must not be done to
//! the shared one (a small `maxmemory`). Stopped (killed) when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::harness;

/// Keys of 100 kB that [`OwnRedis::fill_past_maxmemory`] writes.
const JUNK_KEYS: usize = 40;

pub struct OwnRedis {
    child: Child,
    pub url: String,
    dir: std::path::PathBuf,
}

impl OwnRedis {
    /// Starts one (no persistence, `noeviction`) and waits until it answers.
    pub async fn start() -> OwnRedis {
        let port = free_port();
        let dir = std::env::temp_dir().join(harness::unique("redis"));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let log = std::fs::File::create(dir.join("redis.log")).expect("redis log");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--maxmemory-policy", "noeviction"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start redis-server (`./dev up` installs it): {e}"));
        let own = OwnRedis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
            dir,
        };
        harness::eventually(Duration::from_secs(10), "own redis-server", || async {
            harness::redis_answers(&own.url).await.then_some(())
        })
        .await;
        own
    }

    pub async fn conn(&self) -> ConnectionManager {
        harness::redis_at(&self.url).await
    }

    /// Writes about 4 MB, then lowers `maxmemory` to 2 MB: from here on every write is
    /// refused with `OOM` (reads, deletes and PING still answer).
    pub async fn fill_past_maxmemory(&self) {
        let mut conn = self.conn().await;
        let junk = "x".repeat(100_000);
        for i in 0..JUNK_KEYS {
            let () = redis::cmd("SET")
                .arg(format!("junk:{i}"))
                .arg(&junk)
                .query_async(&mut conn)
                .await
                .expect("SET junk");
        }
        let () = redis::cmd("CONFIG")
            .arg(&["SET", "maxmemory", "2mb"][..])
            .query_async(&mut conn)
            .await
            .expect("CONFIG SET maxmemory");
        let refused: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&["probe", "1"][..])
            .query_async(&mut conn)
            .await;
        let error = refused.expect_err("a write past maxmemory is refused");
        assert_eq!(error.code(), Some("OOM"), "{error}");
    }

    /// Deletes what [`OwnRedis::fill_past_maxmemory`] wrote: writes are taken again.
    pub async fn free_memory(&self) {
        let mut conn = self.conn().await;
        let keys: Vec<String> = (0..JUNK_KEYS).map(|i| format!("junk:{i}")).collect();
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("DEL junk");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free a moment ago (the listener is dropped before redis-server binds it).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
