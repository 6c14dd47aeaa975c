//! The control socket, spoken to byte for byte: a devnet node in this process serves its
//! socket in a temporary data directory, and the clients here are raw Unix streams writing
//! and reading lines, as a script (or a console of another build) would. What the node
//! answers is checked against its own history and its bus. Waits are for lines and blocks;
//! a timeout only keeps a broken node from hanging the test.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tbtc_coord::control::protocol::{MAX_PAGE, VERSION};
use tbtc_coord::control::server::{MAX_CLIENTS, MAX_REQUEST_LINE, SEND_QUEUE};
use tbtc_coord::control::{self, ControlError, ControlServer, LogFeed, RemoteNode};
use tbtc_coord::devnet::DevnetConfig;
use tbtc_coord::devnet::{DevnetNetwork, DevnetNetworkConfig};
use tbtc_coord::engine::records::{FaultFilter, FaultOrder};
use tbtc_coord::engine::{DryRunWindow, Event, EventBus, NodeApi, NodeConfig, Update};
use tbtc_coord::headless::{render, PrintOptions};
use tbtc_coord::store::Store;
use tbtc_coord::tui::app::{App, NodeLink, Tab};
use tbtc_coord::tui::theme::Theme;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;

/// Long enough for any line on a loaded machine; only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(60);

struct Node {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    store: Arc<Store>,
    bus: EventBus,
    network: DevnetNetwork,
    server: ControlServer,
}

async fn node(block_ms: u64, fault_rate: f64) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("devnet-7.sqlite3")).unwrap());
    let socket = control::socket_path(&dir.path().join("devnet-7.sqlite3"));
    let bound = control::bind(&socket).unwrap();
    let bus = EventBus::default();
    let network = DevnetNetwork::start(
        DevnetNetworkConfig {
            devnet: DevnetConfig {
                seed: 7,
                block_time: Duration::from_millis(block_ms),
                operators: 10,
                wallets: 4,
                ..DevnetConfig::default()
            },
            fault_rate,
            node: NodeConfig::default(),
            ..DevnetNetworkConfig::default()
        },
        store.clone(),
        bus.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let server = bound.serve(network.local.commands());
    Node {
        _dir: dir,
        socket,
        store,
        bus,
        network,
        server,
    }
}

impl Node {
    /// Waits until the node has completed `n` windows.
    async fn windows_completed(&self, n: u64) {
        let mut events = self.bus.subscribe();
        while self.bus.snapshot().windows_completed < n {
            tokio::time::timeout(PATIENCE, events.recv())
                .await
                .expect("the node stalled")
                .ok();
        }
    }

    async fn stop(self) {
        self.network.shutdown().await;
        self.server.shutdown().await;
    }
}

struct Raw {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Raw {
    async fn connect(socket: &Path) -> Raw {
        let (read, write) = UnixStream::connect(socket).await.unwrap().into_split();
        Raw {
            lines: BufReader::new(read).lines(),
            write,
        }
    }

    /// Connected and greeted.
    async fn hello(socket: &Path) -> Raw {
        let mut raw = Raw::connect(socket).await;
        let hello = raw
            .call(json!({"id": 1, "type": "hello", "version": VERSION}))
            .await;
        assert_eq!(hello["ok"]["version"], 2, "{hello}");
        raw
    }

    /// Writes; a node that closed the connection may make this fail, which the next read
    /// shows.
    async fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.write.write_all(bytes).await;
    }

    async fn send(&mut self, request: Value) {
        self.send_bytes(format!("{request}\n").as_bytes()).await;
    }

    /// The next line; `None` once the node closed the connection.
    async fn line(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(PATIENCE, self.lines.next_line())
            .await
            .expect("no line from the node")
            .ok()??;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
    }

    /// The next reply (a line with an `id`), skipping streamed lines.
    async fn reply(&mut self) -> Value {
        loop {
            let line = self.line().await.expect("the node closed the connection");
            if line.get("id").is_some() {
                return line;
            }
        }
    }

    async fn call(&mut self, request: Value) -> Value {
        self.send(request).await;
        self.reply().await
    }
}

fn error_code(reply: &Value) -> &str {
    reply["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_is_private_and_removed_on_a_clean_stop() {
    let node = node(5, 0.0).await;
    let meta = std::fs::metadata(&node.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let socket = node.socket.clone();
    node.stop().await;
    assert!(!socket.exists(), "the socket outlived the node");
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_or_a_file_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet-1.sock");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    // A crashed node's socket: the file stays, nobody listens.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let bound = control::bind(&path).expect("a stale socket is replaced");
    // A live one is not taken over.
    match control::bind(&path) {
        Err(ControlError::InUse(p)) => assert_eq!(p, path),
        other => panic!("expected InUse, got {:?}", other.map(|_| ())),
    }
    drop(bound);
    assert!(!path.exists(), "dropping the bound socket removes its file");
    std::fs::write(&path, "not a socket").unwrap();
    match control::bind(&path) {
        Err(e @ ControlError::NotASocket(_)) => {
            assert!(e.to_string().contains("is not a socket"), "{e}")
        }
        other => panic!("expected NotASocket, got {:?}", other.map(|_| ())),
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
    let long = dir.path().join("x".repeat(120));
    assert!(matches!(
        control::bind(&long),
        Err(ControlError::PathTooLong { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_comes_first_and_names_the_version() {
    let node = node(5, 0.0).await;
    let mut raw = Raw::connect(&node.socket).await;
    let early = raw.call(json!({"id": 7, "type": "status"})).await;
    assert_eq!(early["id"], 7);
    assert_eq!(error_code(&early), "bad_request");
    assert!(early["error"]["message"]
        .as_str()
        .unwrap()
        .contains("hello"));
    let hello = raw
        .call(json!({"id": 8, "type": "hello", "version": VERSION, "client": "test"}))
        .await;
    assert_eq!(hello["id"], 8);
    assert_eq!(hello["ok"]["pid"], std::process::id());
    assert_eq!(hello["ok"]["chain"], "devnet-7");

    let mut other = Raw::connect(&node.socket).await;
    let refused = other
        .call(json!({"id": 1, "type": "hello", "version": 99}))
        .await;
    assert_eq!(error_code(&refused), "unsupported_version");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("version 2, not 99"));
    assert_eq!(other.line().await, None, "closed after refusing");
    // A client of the first version, which read the history through other requests, is
    // refused too rather than misunderstood.
    let mut old = Raw::connect(&node.socket).await;
    let refused = old
        .call(json!({"id": 1, "type": "hello", "version": 1}))
        .await;
    assert_eq!(error_code(&refused), "unsupported_version");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_streams_a_snapshot_then_the_headless_json_events() {
    let node = node(5, 0.3).await;
    // What the node's own bus carries, as `run --headless --json --all-events` prints it:
    // the stream over the socket must be these very lines, in this order.
    let mut bus = node.bus.subscribe();
    let all = PrintOptions {
        json: true,
        all_events: true,
    };
    let mut printed = std::collections::VecDeque::new();
    let mut raw = Raw::hello(&node.socket).await;
    let ok = raw.call(json!({"id": 2, "type": "subscribe"})).await;
    assert_eq!(ok, json!({"id": 2, "ok": null}));
    let snapshot = raw.line().await.unwrap();
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["reason"], "subscribed");
    assert_eq!(snapshot["snapshot"]["chain"], "devnet-7");
    let mut next_block = snapshot["snapshot"]["head"]["number"]
        .as_u64()
        .map(|n| n + 1);
    let mut completed = 0;
    let mut streamed = 0;
    while completed < 1 {
        let line = raw.line().await.unwrap();
        if line["type"] == "chain_status" {
            continue;
        }
        // The bus saw it first; lines it carried before the snapshot are skipped.
        loop {
            while printed.is_empty() {
                let event = bus.recv().await.expect("the bus keeps up in this test");
                let text = render(&event, all).expect("every event prints with --all-events");
                printed.push_back(serde_json::from_str::<Value>(&text).unwrap());
            }
            if printed.pop_front() == Some(line.clone()) {
                break;
            }
            assert!(
                streamed == 0,
                "the stream skipped or changed an event of the bus: {line}"
            );
        }
        streamed += 1;
        match line["type"].as_str() {
            Some("block") => {
                let number = line["number"].as_u64().unwrap();
                if let Some(expected) = next_block {
                    assert_eq!(number, expected);
                }
                next_block = Some(number + 1);
            }
            Some("window_completed") => completed += 1,
            _ => {}
        }
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_history_come_in_pages_equal_to_the_history() {
    let node = node(2, 0.6).await;
    node.windows_completed(2).await;
    let all = FaultFilter::default();
    let stored = node
        .store
        .faults(&all, FaultOrder::OldestFirst, 0, u64::MAX)
        .unwrap();
    assert!(stored.len() >= 2, "the fixture has faults");
    let mut raw = Raw::hello(&node.socket).await;
    let mut paged = Vec::new();
    let mut id = 10;
    loop {
        id += 1;
        let reply = raw
            .call(json!({"id": id, "type": "history", "query": "faults",
                         "order": "oldest_first", "offset": paged.len(), "limit": 1}))
            .await;
        assert_eq!(reply["ok"]["query"], "faults", "{reply}");
        let rows = reply["ok"]["rows"].as_array().unwrap().clone();
        id += 1;
        let count = raw
            .call(json!({"id": id, "type": "history", "query": "count_faults"}))
            .await;
        let total = count["ok"]["rows"].as_u64().unwrap();
        if rows.is_empty() {
            assert!(total >= stored.len() as u64);
            break;
        }
        paged.extend(rows);
    }
    let stored_json: Vec<Value> = stored
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    // Faults recorded while paging come after the stored ones (oldest first).
    assert_eq!(paged[..stored_json.len()], stored_json[..]);

    let wallet = stored[0].wallet.to_string();
    let one = raw
        .call(
            json!({"id": 1, "type": "history", "query": "faults", "limit": MAX_PAGE,
                     "filter": {"wallet": wallet}}),
        )
        .await;
    assert!(one["ok"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["wallet"] == wallet.as_str()));

    let dispatches = node.store.dispatches(0, 1_000).unwrap();
    assert!(dispatches.len() >= 2, "the fixture dispatched");
    let page = raw
        .call(json!({"id": 2, "type": "history", "query": "dispatches", "offset": 1, "limit": 1}))
        .await;
    assert_eq!(page["ok"]["query"], "dispatches", "{page}");
    assert_eq!(
        page["ok"]["rows"][0]["coordination_block"],
        dispatches[1].coordination_block
    );

    for bad in [
        json!({"id": 3, "type": "history", "query": "faults", "limit": 0}),
        json!({"id": 3, "type": "history", "query": "faults", "limit": MAX_PAGE + 1}),
        json!({"id": 3, "type": "history", "query": "windows", "limit": MAX_PAGE + 1}),
        json!({"id": 3, "type": "history", "query": "blocks", "limit": 5}),
        json!({"id": 3, "type": "history", "query": "faults", "limit": 5, "filter": {"colour": "red"}}),
        json!({"id": 3, "type": "history", "query": "dispatches", "limit": 5, "x": 1}),
        json!({"id": 3, "type": "launch_missiles"}),
    ] {
        let reply = raw.call(bad.clone()).await;
        assert_eq!(error_code(&reply), "bad_request", "{bad} → {reply}");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_over_the_socket_is_the_nodes_own_and_is_recorded() {
    let node = node(2, 0.0).await;
    node.windows_completed(1).await;
    let wallet = node.network.local.wallets()[0].wallet;
    let mut raw = Raw::hello(&node.socket).await;
    let reply = raw
        .call(
            json!({"id": 5, "type": "dry_run", "wallet": wallet.to_string(),
                     "window": {"at": 900}}),
        )
        .await;
    let record = &reply["ok"];
    let own = node
        .network
        .local
        .dry_run(wallet, DryRunWindow::At(900))
        .await
        .unwrap();
    // The same window and chain: the same seed, leader and checklist.
    assert_eq!(record["seed"], serde_json::to_value(own.seed).unwrap());
    assert_eq!(record["leader"], serde_json::to_value(own.leader).unwrap());
    assert_eq!(
        record["checklist"],
        serde_json::to_value(&own.checklist).unwrap()
    );
    assert_eq!(node.store.dry_runs(0, 10).unwrap().len(), 2);
    let unknown = raw
        .call(json!({"id": 6, "type": "dry_run", "wallet": "00".repeat(20), "window": {"at": 900}}))
        .await;
    assert_eq!(error_code(&unknown), "dry_run");
    assert!(unknown["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not known"));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_lines_get_errors_and_the_node_coordinates_on() {
    let node = node(2, 0.0).await;
    let mut raw = Raw::hello(&node.socket).await;
    raw.send_bytes(b"this is not json\n").await;
    let r = raw.reply().await;
    assert_eq!(
        (r["id"].clone(), error_code(&r)),
        (Value::Null, "bad_request")
    );
    raw.send_bytes(b"{\"id\": 1, \"type\": \"faults\", \"limit\": \"many\"}\n")
        .await;
    assert_eq!(error_code(&raw.reply().await), "bad_request");
    raw.send_bytes(b"[1,2,3]\n\n   \n").await;
    assert_eq!(error_code(&raw.reply().await), "bad_request");
    // Still served.
    let status = raw.call(json!({"id": 9, "type": "status"})).await;
    assert_eq!(status["ok"]["running"], true, "{status}");
    // Longer than the limit: an error, then the connection is closed.
    let mut long = vec![b'x'; MAX_REQUEST_LINE * 3];
    long.push(b'\n');
    let mut oversized = Raw::hello(&node.socket).await;
    oversized.send_bytes(&long).await;
    let r = oversized.reply().await;
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("longer than 65536 bytes"));
    assert_eq!(oversized.line().await, None);
    // Not UTF-8: an error, then the connection is closed.
    raw.send_bytes(b"\xff\xfe\xfd\n").await;
    assert_eq!(error_code(&raw.reply().await), "bad_request");
    assert_eq!(raw.line().await, None);
    // A client that says nothing, and one that vanishes mid-line.
    let _silent = Raw::connect(&node.socket).await;
    let mut vanishing = Raw::hello(&node.socket).await;
    vanishing.send_bytes(b"{\"id\": 3, \"type\": \"sta").await;
    drop(vanishing);
    // The node coordinates on.
    let before = node.bus.snapshot().windows_completed;
    node.windows_completed(before + 1).await;
    let mut fresh = Raw::hello(&node.socket).await;
    let status = fresh.call(json!({"id": 1, "type": "status"})).await;
    assert!(status["ok"]["windows"]["completed"].as_u64().unwrap() > before);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_dropped_and_the_others_keep_their_stream() {
    let node = node(1, 0.0).await;
    // Subscribes, then never reads.
    let mut slow = Raw::hello(&node.socket).await;
    slow.send(json!({"id": 2, "type": "subscribe"})).await;
    let mut reader = Raw::hello(&node.socket).await;
    reader.send(json!({"id": 2, "type": "subscribe"})).await;
    // Far more than its queue and both socket buffers hold: about 250 bytes a block, a
    // queue of SEND_QUEUE lines, and a few hundred kilobytes of buffers.
    let enough = (SEND_QUEUE as u64) * 8;
    let mut last_block = None;
    let mut blocks_read = 0u64;
    while blocks_read < enough {
        let line = reader.line().await.expect("the reader was dropped");
        if line["type"] == "block" {
            let n = line["number"].as_u64().unwrap();
            if let Some(last) = last_block {
                assert_eq!(n, last + 1, "the reader's stream has a gap");
            }
            last_block = Some(n);
            blocks_read += 1;
        }
    }
    // The slow client reads now: what was queued before the drop, then the end.
    let mut lines = 0u64;
    let mut notice = None;
    while let Some(line) = slow.line().await {
        lines += 1;
        if line["type"] == "dropped" {
            notice = Some(line);
        }
        assert!(lines < enough, "the slow client was never dropped");
    }
    // It is told why, after whole lines only (every line above parsed as JSON).
    let notice = notice.expect("the slow client is told why it was dropped");
    assert!(
        notice["reason"]
            .as_str()
            .unwrap()
            .contains("reads too slowly"),
        "{notice}"
    );
    // The reader still streams, and the node went on at its pace.
    let after = reader.line().await.expect("the reader keeps its stream");
    assert!(after.is_object());
    assert!(node.bus.snapshot().head.unwrap().number >= last_block.unwrap());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_past_the_limit_are_told_so() {
    let node = node(5, 0.0).await;
    let mut held = Vec::new();
    for _ in 0..MAX_CLIENTS {
        held.push(Raw::hello(&node.socket).await);
    }
    let mut one_more = Raw::connect(&node.socket).await;
    let refused = one_more.line().await.unwrap();
    assert_eq!(error_code(&refused), "busy");
    assert_eq!(one_more.line().await, None);
    // One leaves: there is room again, once the node has noticed.
    drop(held.pop());
    let mut again = None;
    for _ in 0..1_000 {
        let mut raw = Raw::connect(&node.socket).await;
        raw.send(json!({"id": 1, "type": "hello", "version": VERSION}))
            .await;
        if raw.line().await.is_some_and(|r| r.get("ok").is_some()) {
            again = Some(raw);
            break;
        }
    }
    assert!(again.is_some(), "a freed slot is never given out again");
    node.stop().await;
}

/// Another user: refused by the socket's mode, and by the peer check if the mode is
/// loosened. Needs root, to connect as `nobody` (uid 65534) with setpriv.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_is_refused() {
    if !is_root() {
        // Written to the process's stderr itself, which the test harness does not capture,
        // so that a run without root says it skipped this instead of passing it silently.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "another_user_is_refused: SKIPPED (connecting as another user needs root)"
        );
        return;
    }
    let node = node(5, 0.0).await;
    let probe = |socket: &Path| {
        // Python's socket module: a client that is neither this process nor its user. A
        // refused client is told so unasked, and may find the connection closed when it
        // writes.
        let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1])\nexcept OSError as e:\n print('connect failed:', e.strerror); sys.exit(0)\ntry:\n s.sendall(b'{\"id\":1,\"type\":\"hello\",\"version\":1}\\n')\nexcept OSError:\n pass\nprint(s.makefile().readline().strip())";
        let out = std::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
                "-c",
            ])
            .arg(script)
            .arg(socket)
            .output()
            .expect("setpriv and python3 are installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // The directory must let the other user reach the socket at all.
    std::fs::set_permissions(
        node.socket.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let by_mode = probe(&node.socket);
    assert_eq!(by_mode, "connect failed: Permission denied");
    std::fs::set_permissions(&node.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let by_peer_check = probe(&node.socket);
    let reply: Value = serde_json::from_str(&by_peer_check).unwrap();
    assert_eq!(error_code(&reply), "forbidden", "{reply}");
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("uid 65534 may not use this socket"));
    node.stop().await;
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The console attached over the socket and the console in the node's process, at the same
/// moment of the same node: every tab draws the same, but for the header's first line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tab_draws_the_same_attached_as_in_process() {
    let node = node(2, 0.5).await;
    node.windows_completed(2).await;
    // Stopped, so the two consoles see one and the same state; the socket still serves it.
    let Node {
        _dir,
        socket,
        network,
        server,
        ..
    } = node;
    let local = network.local.commands();
    network.shutdown().await;

    let cancel = CancellationToken::new();
    let remote = RemoteNode::start(socket, cancel.clone());
    let mut attached = App::new(remote.clone(), NodeLink::Connecting, Theme::dark());
    let mut updates = remote.subscribe().await;
    while !attached.live.stopped {
        let update = tokio::time::timeout(PATIENCE, updates.next())
            .await
            .unwrap()
            .unwrap();
        attached.on_update(update, tokio::time::Instant::now());
    }
    assert!(matches!(attached.link, NodeLink::Attached { pid } if pid == std::process::id()));
    let local: Arc<dyn NodeApi> = Arc::new(local);
    let mut in_process = App::new(local.clone(), NodeLink::InProcess, Theme::dark());
    let mut local_updates = local.subscribe().await;
    let first = local_updates.next().await.unwrap();
    assert!(matches!(first, Update::Snapshot { .. }));
    in_process.on_update(first, tokio::time::Instant::now());
    assert_eq!(attached.live, in_process.live);

    for (i, tab) in Tab::ALL.into_iter().enumerate() {
        if tab == Tab::Logs {
            continue; // this process's log, the same widget either way
        }
        let key = char::from(b'1' + i as u8);
        for app in [&mut attached, &mut in_process] {
            app.on_key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char(key),
            ));
            app.refresh().await;
        }
        let (a, b) = (screen(&attached), screen(&in_process));
        // All but the first line (where the node is) and the footer (q detaches or quits).
        let body = |s: &str| {
            let lines: Vec<String> = s.lines().map(str::to_string).collect();
            lines[1..lines.len() - 1].to_vec()
        };
        assert_eq!(body(&a), body(&b), "tab {tab:?}");
        assert!(a.lines().next().unwrap().contains("attached to pid"));
        assert!(a.lines().last().unwrap().contains("q detach") || tab == Tab::Faults);
    }
    assert!(in_process.faults.total > 0);
    assert_eq!(attached.faults.rows, in_process.faults.rows);
    assert_eq!(attached.proposals.items, in_process.proposals.items);
    // A dry run, through either.
    let wallet = in_process.live.wallets[0].wallet;
    let a = remote.dry_run(wallet, DryRunWindow::At(900)).await.unwrap();
    let b = local.dry_run(wallet, DryRunWindow::At(900)).await.unwrap();
    assert_eq!(a, b);
    cancel.cancel();
    server.shutdown().await;
}

fn screen(app: &App) -> String {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).unwrap();
    terminal
        .draw(|f| tbtc_coord::tui::views::render(f, app, tokio::time::Instant::now()))
        .unwrap();
    terminal.backend().to_string()
}

/// This process's log goes to the control socket's log stream only (no Logs tab layer), so
/// what a console's Logs tab shows of it came over the socket.
fn log_to_the_control_socket_only() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(control::logs::layer())
        .try_init();
}

/// `logs` streams the node's own log lines, as its filter asks, to a raw client; a filter
/// that does not parse is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_stream_the_nodes_log_lines() {
    log_to_the_control_socket_only();
    let node = node(2, 0.0).await;
    let mut raw = Raw::hello(&node.socket).await;
    let refused = raw
        .call(json!({"id": 2, "type": "logs", "filter": "info,[span{a=1}]=debug"}))
        .await;
    assert_eq!(error_code(&refused), "bad_request", "{refused}");
    let ok = raw
        .call(json!({"id": 3, "type": "logs", "filter": "warn,tbtc_coord::engine=info"}))
        .await;
    assert_eq!(ok["ok"], Value::Null, "{ok}");
    let line = loop {
        let line = raw.line().await.expect("the node streams its log");
        assert_eq!(line["type"], "log", "{line}");
        let level = line["level"].as_str().unwrap();
        let target = line["target"].as_str().unwrap();
        // The filter's levels per target hold.
        assert!(
            level == "WARN" || level == "ERROR" || target.starts_with("tbtc_coord::engine"),
            "{line}"
        );
        if line["message"]
            .as_str()
            .unwrap()
            .starts_with("window started")
        {
            break line;
        }
    };
    assert_eq!(line["level"], "INFO");
    // The message first, then the fields.
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .starts_with("window started cb="),
        "{line}"
    );
    node.stop().await;
}

/// The console attached over the socket shows the node's own log in its Logs tab.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attached_logs_tab_shows_a_line_the_node_logged() {
    log_to_the_control_socket_only();
    let node = node(2, 0.0).await;
    let cancel = CancellationToken::new();
    let feed = LogFeed {
        filter: "info".into(),
        sink: Arc::new(tbtc_coord::tui::node_log::show),
    };
    let remote = RemoteNode::start_with_log(node.socket.clone(), cancel.clone(), feed);
    let mut attached = App::new(remote.clone(), NodeLink::Connecting, Theme::dark());
    attached.tab = Tab::Logs;
    let mut updates = remote.subscribe().await;
    let mut windows = 0;
    loop {
        let update = tokio::time::timeout(PATIENCE, updates.next())
            .await
            .expect("the node stalled")
            .expect("the link runs");
        let started = matches!(update, Update::Event(Event::WindowStarted { .. }));
        attached.on_update(update, tokio::time::Instant::now());
        if !started {
            continue;
        }
        windows += 1;
        tui_logger::move_events();
        let shown = screen(&attached);
        if shown.contains("window started") {
            assert!(shown.contains("tbtc_coord::engine"), "{shown}");
            break;
        }
        // Each window is logged when it starts; the line of one of the first few has come.
        assert!(windows < 4, "no node log line in the Logs tab:\n{shown}");
    }
    cancel.cancel();
    node.stop().await;
}
