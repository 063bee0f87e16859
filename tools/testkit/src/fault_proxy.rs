//! A loopback TCP proxy that can fail on command, placed between a process and Redis,
//! PostgreSQL or LocalStack: pass traffic, refuse connections, reset them, black-hole them,
//! or delay every chunk. Switching to a fault cuts the connections already open, as a real
//! outage does, without disturbing the server every other test shares. The one fault proxy
//! of the tests.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic, now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Traffic passes.
    Pass,
    /// Connections are accepted and closed at once; open ones are closed.
    Refuse,
    /// Connections are reset (RST); open ones too.
    Reset,
    /// Connections are accepted and never answered; open ones stall.
    BlackHole,
    /// Every chunk waits this long in each direction.
    Delay(Duration),
}

/// A running proxy; dropping it stops accepting.
pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Fault>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fault proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Fault::Pass);
        let accept = tokio::spawn(accept_loop(listener, upstream.to_owned(), mode.subscribe()));
        FaultProxy { addr, mode, accept }
    }

    /// Switches to `fault`; a fault that cuts (refuse, reset, black hole) cuts what is open.
    pub fn set(&self, fault: Fault) {
        self.mode.send_replace(fault);
    }

    /// `url` with its host and port replaced by the proxy's (credentials, database and
    /// query kept).
    pub fn url_through(&self, url: &str) -> String {
        let mut parsed = url::Url::parse(url).expect("URL");
        parsed.set_host(Some("127.0.0.1")).expect("host");
        parsed.set_port(Some(self.addr.port())).expect("port");
        parsed.to_string()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// `host:port` of a URL, for the proxy's upstream.
pub fn upstream_of(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("URL");
    format!(
        "{}:{}",
        parsed.host_str().expect("host"),
        parsed.port_or_known_default().expect("port")
    )
}

async fn accept_loop(listener: TcpListener, upstream: String, mode: watch::Receiver<Fault>) {
    while let Ok((inbound, _)) = listener.accept().await {
        tokio::spawn(connection(inbound, upstream.clone(), mode.clone()));
    }
}

async fn connection(inbound: TcpStream, upstream: String, mut mode: watch::Receiver<Fault>) {
    let current = *mode.borrow_and_update();
    match current {
        Fault::Refuse => return,
        Fault::Reset => return reset(inbound),
        Fault::BlackHole => return hold(inbound, mode).await,
        Fault::Pass | Fault::Delay(_) => {}
    }
    let Ok(outbound) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut ri, mut wi) = inbound.into_split();
    let (mut ro, mut wo) = outbound.into_split();
    tokio::select! {
        () = pump(&mut ri, &mut wo, mode.clone()) => {}
        () = pump(&mut ro, &mut wi, mode.clone()) => {}
        () = until_fault(&mut mode) => {}
    }
}

fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn hold(stream: TcpStream, mut mode: watch::Receiver<Fault>) {
    let _ = mode.changed().await;
    drop(stream);
}

/// Returns when the mode turns into a fault that cuts open connections.
async fn until_fault(mode: &mut watch::Receiver<Fault>) {
    loop {
        if mode.changed().await.is_err() {
            return;
        }
        if matches!(
            *mode.borrow(),
            Fault::Refuse | Fault::Reset | Fault::BlackHole
        ) {
            return;
        }
    }
}

async fn pump<R, W>(from: &mut R, to: &mut W, mode: watch::Receiver<Fault>)
where
    R: AsyncReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = match *mode.borrow() {
            Fault::Delay(d) => Some(d),
            _ => None,
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
