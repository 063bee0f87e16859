//! A TCP proxy in front of LocalStack that a test can take down and bring back: an SNS
//! outage for one process, without disturbing the LocalStack every other test shares.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub struct Proxy {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<free port> to `target` (host:port) while up.
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (up, watch) = watch::channel(true);
        tokio::spawn(serve(Some(listener), addr, target, watch));
        Proxy { addr, up }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Down: connections are refused and open ones cut. Up: forwarding again.
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

async fn serve(
    mut first: Option<TcpListener>,
    addr: SocketAddr,
    target: String,
    mut up: watch::Receiver<bool>,
) {
    loop {
        if up.wait_for(|up| *up).await.is_err() {
            return;
        }
        let listener = match first.take() {
            Some(listener) => listener,
            None => TcpListener::bind(addr).await.expect("bind the proxy again"),
        };
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    connections.spawn(forward(client, target.clone()));
                }
                changed = up.wait_for(|up| !*up) => {
                    if changed.is_err() { return; }
                    break;
                }
            }
        }
        drop(listener);
        connections.abort_all();
    }
}

async fn forward(mut client: TcpStream, target: String) {
    if let Ok(mut upstream) = TcpStream::connect(&target).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}
