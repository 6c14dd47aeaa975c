//! The metrics endpoint as Prometheus sees it: a real Prometheus server (Debian's package,
//! installed by scripts/install-test-deps) scrapes a devnet node; its counters must advance
//! and equal the node's own history. The exposition, the shipped alert rules and scrape
//! config are checked with promtool. Every wait is bounded by a hang guard.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Far beyond what any step needs; reaching it fails the test, it is never a timing claim.
const HANG_GUARD: Duration = Duration::from_secs(180);

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tbtc-coord"))
}

fn tool(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let p = format!("{dir}/{name}");
        if Path::new(&p).exists() {
            return p;
        }
    }
    panic!("{name} is missing: run scripts/install-test-deps (Debian package prometheus)");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.0 GET on loopback: (status, body).
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prometheus's HTTP API: an instant query's `data.result`.
fn prom_query(port: u16, query: &str) -> Option<Vec<Value>> {
    let (status, body) = http_get(port, &format!("/api/v1/query?query={}", encode(query))).ok()?;
    if status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"].as_array().cloned()
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < HANG_GUARD,
            "hang guard: still waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Kills a child left behind by a failing test.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn promtool(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// The metric names in a dashboard or rules file: ours (`tbtc_coord_…`) and keep-client's.
fn metric_names(text: &str) -> BTreeSet<String> {
    const KEEP: [&str; 4] = [
        "connected_peers_count",
        "connected_bootstrap_count",
        "eth_connectivity",
        "client_info",
    ];
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("tbtc_coord_") || KEEP.contains(w))
        .map(str::to_owned)
        .collect()
}

#[test]
fn prometheus_scrapes_a_devnet_node_and_its_fault_counters_equal_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (metrics_port, prom_port) = (free_port(), free_port());
    let mut node = bin()
        .args(["run", "--headless", "--json", "--block-time", "5ms"])
        .args(["--devnet-fault-rate", "0.5", "--devnet-wallets", "8"])
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{metrics_port}"))
        .arg("--data-dir")
        .arg(&data)
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = node.stdout.take().unwrap();
    let node = Reaped(node);
    // Drain stdout so the node never blocks on a full pipe; keep its own operator.
    let printer = std::thread::spawn(move || {
        let mut operator = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["type"] == "node_started" {
                    operator = v["operator"].as_str().map(str::to_string);
                }
            }
        }
        operator
    });

    // The node's own endpoints.
    wait_for("/healthz to answer 200", || {
        matches!(http_get(metrics_port, "/healthz"), Ok((200, _))).then_some(())
    });
    let (status, exposition) = http_get(metrics_port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        exposition.contains("\ntbtc_coord_faults_total{fault=\"LeaderIdleness\"} "),
        "{exposition}"
    );
    // promtool parses the text with the official rules, then lints it: exit 1 is a parse
    // error, 3 only lint complaints. The one complaint allowed is keep-client's own names
    // ending in _count, kept for its dashboards.
    let check = promtool(&["check", "metrics"], Some(&exposition));
    let complaints = String::from_utf8_lossy(&check.stderr).into_owned();
    let unexpected: Vec<&str> = complaints
        .lines()
        .filter(|l| {
            !(l.starts_with("connected_peers_count ")
                || l.starts_with("connected_bootstrap_count "))
                || !l.ends_with("should not have \"_count\" suffix")
        })
        .collect();
    assert!(
        matches!(check.status.code(), Some(0) | Some(3)) && unexpected.is_empty(),
        "promtool check metrics ({:?}): {complaints}\n{exposition}",
        check.status
    );
    let (status, diagnostics) = http_get(metrics_port, "/diagnostics").unwrap();
    assert_eq!(status, 200);
    let diagnostics: Value = serde_json::from_str(&diagnostics).unwrap();
    for key in [
        "client_info",
        "connected_peers",
        "eth_chain_info",
        "wallets",
        "next_window",
    ] {
        assert!(!diagnostics[key].is_null(), "{key} in {diagnostics}");
    }
    // The node's own wallets: those of the 8 in which its operator holds a seat.
    let wallets = diagnostics["wallets"].as_array().unwrap();
    assert!((1..=8).contains(&wallets.len()), "{diagnostics}");
    assert!(wallets
        .iter()
        .all(|w| w["wallet"].is_string() && w["seats"].is_array()));
    assert_eq!(http_get(metrics_port, "/nope").unwrap().0, 404);

    // A real Prometheus, scraping every second.
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: tbtc-coord\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .unwrap();
    let prometheus = Command::new(tool("prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _prometheus = Reaped(prometheus);

    // Present and advancing: a first total, then a larger one, over 3 completed windows.
    let total = |port| {
        let r = prom_query(port, "sum(tbtc_coord_faults_total)")?;
        r.first()?["value"][1].as_str()?.parse::<f64>().ok()
    };
    let first = wait_for("Prometheus to have scraped the fault counters", || {
        total(prom_port)
    });
    wait_for(
        "the fault counters to advance, over 3 completed windows",
        || {
            let completed = prom_query(prom_port, "tbtc_coord_windows_completed_total")?;
            let completed: f64 = completed.first()?["value"][1].as_str()?.parse().ok()?;
            (total(prom_port)? > first && completed >= 3.0).then_some(())
        },
    );

    // Every metric the shipped dashboard and alert rules name is one the node serves.
    let (_, exposition) = http_get(metrics_port, "/metrics").unwrap();
    let families: HashSet<&str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for asset in [
        "assets/grafana/tbtc-coord.json",
        "assets/prometheus/tbtc-coord.rules.yml",
    ] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(asset)).unwrap();
        let named = metric_names(&text);
        assert!(named.len() >= 5, "{asset} names {named:?}");
        for name in named {
            let served = families.contains(name.as_str())
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_suffix(s).is_some_and(|b| families.contains(b)));
            assert!(
                served,
                "{asset} names {name}, which /metrics does not serve"
            );
        }
    }

    // Stop the node; it exits cleanly.
    let mut node = node;
    unsafe { libc::kill(node.0.id() as i32, libc::SIGINT) };
    let status = wait_for("the node to exit after SIGINT", || {
        node.0.try_wait().unwrap()
    });
    assert!(status.success(), "{status:?}");
    let operator = printer.join().unwrap().expect("a node_started event");

    // Every sample Prometheus kept, joined by scrape time. The last scrape at which no
    // window was in progress is compared with the history up to that window.
    let names = "tbtc_coord_(faults_total|own_faults_total|windows_started_total|windows_completed_total|windows_interrupted_total|last_window_block)";
    let series = prom_query(prom_port, &format!("{{__name__=~\"{names}\"}}[30m]")).unwrap();
    let mut scrapes: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for s in &series {
        let name = s["metric"]["__name__"].as_str().unwrap();
        let key = match s["metric"]["fault"].as_str() {
            Some(f) => format!("{name}/{f}"),
            None => name.to_string(),
        };
        for v in s["values"].as_array().unwrap() {
            let ts = format!("{:020.3}", v[0].as_f64().unwrap());
            let value: f64 = v[1].as_str().unwrap().parse().unwrap();
            scrapes.entry(ts).or_default().insert(key.clone(), value);
        }
    }
    let get = |s: &BTreeMap<String, f64>, k: &str| s.get(k).copied().unwrap_or(f64::NAN);
    let (at, quiet) = scrapes
        .iter()
        .rev()
        .find(|(_, s)| {
            get(s, "tbtc_coord_windows_started_total")
                == get(s, "tbtc_coord_windows_completed_total")
                    + get(s, "tbtc_coord_windows_interrupted_total")
                && get(s, "tbtc_coord_windows_completed_total") >= 1.0
        })
        .expect("a scrape between windows");
    let last_window = get(quiet, "tbtc_coord_last_window_block") as u64;

    let history = bin()
        .args([
            "faults",
            "--json",
            "--to",
            &last_window.to_string(),
            "--data-dir",
        ])
        .arg(&data)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        history.status.success(),
        "{}",
        String::from_utf8_lossy(&history.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&history.stdout).unwrap();
    let mut by_type: BTreeMap<String, f64> = BTreeMap::new();
    let mut own: BTreeMap<String, f64> = BTreeMap::new();
    for r in &rows {
        let fault = r["fault"].as_str().unwrap().to_string();
        *by_type.entry(fault.clone()).or_default() += 1.0;
        if r["culprit"].as_str() == Some(operator.as_str()) {
            *own.entry(fault).or_default() += 1.0;
        }
    }
    assert!(
        !rows.is_empty(),
        "no faults up to window {last_window}: nothing compared"
    );
    for fault in ["LeaderIdleness", "LeaderMistake", "LeaderImpersonation"] {
        assert_eq!(
            get(quiet, &format!("tbtc_coord_faults_total/{fault}")),
            by_type.get(fault).copied().unwrap_or(0.0),
            "{fault} faults at scrape {at} (window {last_window}) against the history"
        );
        assert_eq!(
            get(quiet, &format!("tbtc_coord_own_faults_total/{fault}")),
            own.get(fault).copied().unwrap_or(0.0),
            "{fault} faults against {operator} at scrape {at}"
        );
    }
}

#[test]
fn a_metrics_port_in_use_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let out = bin()
        .args([
            "run",
            "--headless",
            "--stop-after-windows",
            "1",
            "--metrics-addr",
            &addr,
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("--metrics-addr {addr}: port in use")),
        "{err}"
    );
    drop(held);
}

#[test]
fn the_shipped_alert_rules_and_scrape_config_pass_promtool() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/prometheus");
    let mut rules: Vec<String> = std::fs::read_dir(&assets)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".rules.yml"))
        .collect();
    rules.sort();
    assert!(!rules.is_empty(), "no *.rules.yml in {}", assets.display());
    let mut args = vec!["check", "rules"];
    args.extend(rules.iter().map(String::as_str));
    let out = promtool(&args, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Five alerts at least: missed window, own idleness, no peers, stale head, store errors.
    let found: usize = text
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("SUCCESS: ")?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(found >= 5, "{text}");
    let config = assets.join("prometheus.yml");
    let out = promtool(&["check", "config", config.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
