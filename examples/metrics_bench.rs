//! `/metrics` scrape time with a large history: fills a history database with synthetic
//! faults, starts the metrics endpoint on it (which counts the history's faults once), then
//! scrapes `/metrics` over loopback HTTP again and again.
//!
//!     cargo run --release --example metrics_bench -- --faults 100000 --scrapes 2000

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use clap::Parser;
use tbtc_coord::engine::{Event, EventBus};
use tbtc_coord::metrics::{server, Metrics, MetricsOptions};
use tbtc_coord::protocol::{Address, BlockHashRule};
use tbtc_coord::store::Store;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Faults to put in the history.
    #[arg(long, default_value_t = 100_000)]
    faults: u64,
    /// Scrapes to time.
    #[arg(long, default_value_t = 2000)]
    scrapes: usize,
}

fn scrape(port: u16) -> std::io::Result<usize> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    Ok(body.len())
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(&dir.path().join("devnet-1.sqlite3"))?);
    let t = Instant::now();
    common::history::fill(&store, args.faults);
    eprintln!(
        "wrote {} faults in {:.1}s",
        args.faults,
        t.elapsed().as_secs_f64()
    );

    let bus = EventBus::default();
    let options = MetricsOptions {
        head_stale_after: Duration::from_secs(10),
        bootstrap_peers: Default::default(),
    };
    let t = Instant::now();
    let metrics = Metrics::new(bus, options, Some(&*store))?;
    let counted = t.elapsed();
    metrics.apply(
        &Event::NodeStarted {
            chain: "devnet-1".into(),
            operator: Address([1; 20]),
            observer: false,
            block_hash_rule: BlockHashRule::KeepV2,
            wallets: vec![],
            transport: tbtc_coord::engine::network_view::MessageTransport::Hub,
            bootstrap_peers: 0,
        },
        Instant::now(),
    );
    let listener = server::bind("127.0.0.1:0".parse()?)?;
    let port = listener.local_addr()?.port();
    let cancel = CancellationToken::new();
    tokio::spawn(server::serve(listener, metrics.clone(), cancel.clone()));

    let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<(Vec<Duration>, usize)> {
        let mut times = Vec::with_capacity(args.scrapes);
        let mut bytes = 0;
        scrape(port)?; // warm-up
        for _ in 0..args.scrapes {
            let t = Instant::now();
            bytes = scrape(port)?;
            times.push(t.elapsed());
        }
        Ok((times, bytes))
    })
    .await??;
    cancel.cancel();
    let (mut times, size) = bytes;
    times.sort();
    println!(
        "faults={} history_count_at_start={:.1}ms scrapes={} response_bytes={size} median={:.3}ms p99={:.3}ms max={:.3}ms",
        args.faults,
        counted.as_secs_f64() * 1e3,
        times.len(),
        quantile(&times, 0.5).as_secs_f64() * 1e3,
        quantile(&times, 0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
    Ok(())
}
