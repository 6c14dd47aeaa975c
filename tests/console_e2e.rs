//! The real binary in a real terminal: tmux runs the console, sends keys and reads the screen.
//! Waits poll the screen for what must appear, with deadlines; nothing waits a fixed time.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server, killed when the test ends however it ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// `name` tells apart the servers of the tests of one run.
    fn new(name: &str) -> Tmux {
        ensure_tmux();
        Tmux {
            socket: format!("tbtc-coord-e2e-{name}-{}", std::process::id()),
        }
    }

    /// Runs `command` in a 140x40 session `main`.
    fn start(&self, command: &str) {
        self.start_session("main", command);
    }

    /// Runs `command` in a 140x40 session `session`.
    fn start_session(&self, session: &str, command: &str) {
        let started = self.cmd(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "140",
            "-y",
            "40",
            command,
        ]);
        assert!(
            started.status.success(),
            "{}",
            String::from_utf8_lossy(&started.stderr)
        );
        // The server outlives its sessions: a test that replaces its session (kill, then
        // start again) must not race a server shutting down ("server exited unexpectedly").
        let kept = self.cmd(&["set-option", "-s", "exit-empty", "off"]);
        assert!(
            kept.status.success(),
            "{}",
            String::from_utf8_lossy(&kept.stderr)
        );
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn screen(&self) -> String {
        self.screen_of("main")
    }

    fn screen_of(&self, session: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", session]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        self.keys_to("main", keys);
    }

    fn keys_to(&self, session: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", session];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    /// Polls the screen until `test` holds; fails with the last screen after `within`.
    fn wait_for(&self, what: &str, within: Duration, test: impl Fn(&str) -> bool) -> String {
        self.wait_in("main", what, within, test)
    }

    /// [`Tmux::wait_for`] in session `session`.
    fn wait_in(
        &self,
        session: &str,
        what: &str,
        within: Duration,
        test: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen_of(session);
            if test(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The test setup installs tmux if the machine lacks it.
fn ensure_tmux() {
    let present = || {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !present() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-test-deps");
        let status = Command::new("bash")
            .arg(script)
            .status()
            .expect("install script runs");
        assert!(status.success(), "installing tmux failed");
    }
    assert!(present(), "tmux is needed for the console end-to-end test");
}

fn block_height(screen: &str) -> Option<u64> {
    let rest = screen.split("Block ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn console_in_a_real_terminal() {
    let tmux = Tmux::new("keys");
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let command = format!(
        "HOME={home} {bin} --data-dir {data} --block-time 40ms --devnet-seed 4; \
         printf 'EXITED %s\\n' $?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?icanon'; sleep 600",
        home = home.path().display(),
        bin = env!("CARGO_BIN_EXE_tbtc-coord"),
        data = data.display(),
    );
    tmux.start(&command);

    // The block height advances.
    let screen = tmux.wait_for("the header", Duration::from_secs(60), |s| {
        block_height(s).is_some()
    });
    let first = block_height(&screen).unwrap();
    tmux.wait_for("a higher block", Duration::from_secs(30), |s| {
        block_height(s).is_some_and(|h| h > first)
    });
    assert!(screen.contains("Overview") && screen.contains("Logs"));

    // Tabs switch.
    tmux.keys(&["2"]);
    tmux.wait_for("the Wallets tab", Duration::from_secs(10), |s| {
        s.contains("Executor") && s.contains("Next leader")
    });
    tmux.keys(&["3"]);
    tmux.wait_for("the Network tab", Duration::from_secs(10), |s| {
        s.contains("in-process hub: no peer network")
    });
    tmux.keys(&["4"]);
    tmux.wait_for("the Faults tab", Duration::from_secs(10), |s| {
        s.contains("sort: newest first")
    });
    tmux.keys(&["Tab"]);
    tmux.wait_for("the Proposals tab", Duration::from_secs(10), |s| {
        s.contains("Proposals and dry runs")
    });

    // Help opens and Esc closes it.
    tmux.keys(&["?"]);
    tmux.wait_for("help", Duration::from_secs(10), |s| {
        s.contains("pause / resume the view")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("help to close", Duration::from_secs(10), |s| {
        !s.contains("pause / resume the view")
    });

    // A dry run of the current window shows a result.
    tmux.wait_for("the first window", Duration::from_secs(60), |s| {
        block_height(s).is_some_and(|h| h >= 905)
    });
    dry_run_the_current_window(&tmux);

    // q exits with status 0 and a restored terminal (canonical mode back on).
    quit_owned_console(&tmux);
    let after = tmux.wait_for("the exit", Duration::from_secs(30), |s| {
        s.contains("EXITED")
    });
    assert!(after.contains("EXITED 0"), "{after}");
    let restored = tmux.wait_for("stty", Duration::from_secs(10), |s| {
        s.lines()
            .any(|l| l.trim() == "icanon" || l.trim() == "-icanon")
    });
    assert!(
        restored.lines().any(|l| l.trim() == "icanon"),
        "raw mode left on:\n{restored}"
    );
    assert!(
        !restored.contains("Overview │"),
        "the alternate screen was left:\n{restored}"
    );
}

/// On the Wallets tab, `d`, the current window: the result shows, and `Esc` closes it.
fn dry_run_the_current_window(tmux: &Tmux) {
    tmux.keys(&["2"]);
    tmux.wait_for("the Wallets tab", Duration::from_secs(10), |s| {
        s.contains("Executor")
    });
    tmux.keys(&["d"]);
    tmux.wait_for("the dry-run dialog", Duration::from_secs(10), |s| {
        s.contains("current window")
    });
    tmux.keys(&["c"]);
    tmux.keys(&["Enter"]);
    let result = tmux.wait_for("the dry-run result", Duration::from_secs(20), |s| {
        s.contains("Nothing was sent or dispatched")
    });
    assert!(
        result.contains("checklist") && result.contains("seed"),
        "{result}"
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for("the result to close", Duration::from_secs(10), |s| {
        !s.contains("Nothing was sent")
    });
}

/// `q` on a console that owns its node: it quits, or, in a window's active phase (or while
/// a client that just left is still counted), asks first; `y` answers.
fn quit_owned_console(tmux: &Tmux) {
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the exit or the question", Duration::from_secs(30), |s| {
        s.contains("EXITED") || s.contains("Stop the node?")
    });
    if screen.contains("Stop the node?") {
        tmux.keys(&["y"]);
    }
}

/// A console owns its node and another console is attached to it: `q` on the first asks
/// before stopping the node, saying the other loses it; `n` keeps it running. The attached
/// one detaches, saying the node runs on.
#[test]
fn q_asks_before_stopping_a_node_another_console_is_attached_to() {
    let tmux = Tmux::new("confirm");
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let owner = format!(
        "HOME={home} {bin} --data-dir {data} --block-time 40ms --devnet-seed 4; \
         printf 'EXITED %s\\n' $?; sleep 600",
        home = home.path().display(),
        bin = env!("CARGO_BIN_EXE_tbtc-coord"),
        data = data.display(),
    );
    tmux.start(&owner);
    tmux.wait_for("the header", Duration::from_secs(60), |s| {
        block_height(s).is_some()
    });
    let pid = console_pid(&tmux);
    let attached = format!(
        "HOME={home} {bin} console --data-dir {data} --devnet-seed 4; \
         printf 'EXITED %s\\n' $?; sleep 600",
        home = home.path().display(),
        bin = env!("CARGO_BIN_EXE_tbtc-coord"),
        data = data.display(),
    );
    tmux.start_session("other", &attached);
    tmux.wait_in(
        "other",
        "the attached console",
        Duration::from_secs(60),
        |s| s.contains(&format!("attached to pid {pid}")) && block_height(s).is_some(),
    );

    tmux.keys(&["q"]);
    let asked = tmux.wait_for("the question", Duration::from_secs(10), |s| {
        s.contains("Stop the node?")
    });
    assert!(
        asked.contains("1 client attached over the control socket loses the node"),
        "{asked}"
    );
    tmux.keys(&["n"]);
    tmux.wait_for("the question to close", Duration::from_secs(10), |s| {
        !s.contains("Stop the node?")
    });
    // Both consoles still follow the node.
    let shown = block_height(&tmux.screen()).unwrap();
    tmux.wait_in("other", "a later block", Duration::from_secs(30), |s| {
        block_height(s).is_some_and(|h| h > shown)
    });

    tmux.keys_to("other", &["q"]);
    let detached = tmux.wait_in("other", "the detach", Duration::from_secs(30), |s| {
        s.contains("EXITED")
    });
    assert!(
        detached.contains(&format!("Detached. The node runs on (pid {pid})."))
            && detached.contains("EXITED 0"),
        "{detached}"
    );
    quit_owned_console(&tmux);
    tmux.wait_for("the exit", Duration::from_secs(30), |s| {
        s.contains("EXITED 0")
    });
}

/// The selected row of a table: the words after the `▶` marker.
fn selected_row(screen: &str) -> Vec<String> {
    let line = screen
        .lines()
        .find(|l| l.contains('▶'))
        .unwrap_or_else(|| panic!("no row selected:\n{screen}"));
    let after = line.split('▶').nth(1).unwrap_or_default();
    after
        .split(|c: char| c.is_whitespace() || c == '│')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// "History 2 of 17" in the Faults tab's title: (selected, total).
fn fault_position(screen: &str) -> Option<(u64, u64)> {
    let rest = screen.split("History ").nth(1)?;
    let mut words = rest.split_whitespace();
    let selected = words.next()?.parse().ok()?;
    (words.next()? == "of").then_some(())?;
    let total = words
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some((selected, total))
}

/// In the Faults tab a fault is chosen; faults recorded after it land above it, and the
/// selection stays on it, saying how many are new; Enter opens the chosen one.
#[test]
fn the_chosen_fault_stays_chosen_as_new_faults_arrive() {
    let tmux = Tmux::new("faults");
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let command = format!(
        "HOME={home} {bin} --data-dir {data} --block-time 10ms --devnet-seed 4 \
         --devnet-fault-rate 0.5; printf 'EXITED %s\\n' $?; sleep 600",
        home = home.path().display(),
        bin = env!("CARGO_BIN_EXE_tbtc-coord"),
        data = data.display(),
    );
    tmux.start(&command);
    tmux.wait_for("the header", Duration::from_secs(60), |s| {
        block_height(s).is_some()
    });
    tmux.keys(&["4"]);
    tmux.wait_for("two faults", Duration::from_secs(120), |s| {
        fault_position(s).is_some_and(|(_, total)| total >= 2)
    });
    // The second newest (lower by now if newer faults came meanwhile: it moves with them).
    tmux.keys(&["j"]);
    let screen = tmux.wait_for("the second row", Duration::from_secs(10), |s| {
        fault_position(s).is_some_and(|(selected, _)| selected >= 2)
    });
    let (at, before) = fault_position(&screen).unwrap();
    let chosen = selected_row(&screen);
    let [window, _wallet, culprit, fault, ..] = chosen.as_slice() else {
        panic!("a fault row has five columns: {chosen:?}\n{screen}");
    };

    // A later window's faults land above it: it moves down with them, still selected.
    let screen = tmux.wait_for("newer faults above it", Duration::from_secs(120), |s| {
        fault_position(s).is_some_and(|(selected, total)| total > before && selected > at)
    });
    let (selected, _) = fault_position(&screen).unwrap();
    assert_eq!(selected_row(&screen), chosen, "{screen}");
    assert!(
        screen.contains(&format!("{} new", selected - 2)),
        "{screen}"
    );

    // Enter opens the chosen fault.
    tmux.keys(&["Enter"]);
    let detail = tmux.wait_for("the fault's details", Duration::from_secs(10), |s| {
        s.contains("Esc closes")
    });
    // The popup's lines sit between its borders, beside the table it covers.
    let segments = || detail.lines().flat_map(|l| l.split('│')).map(str::trim);
    let field = |name: &str| {
        segments()
            .find_map(|seg| {
                seg.strip_prefix(name)
                    .and_then(|v| v.split_whitespace().next())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("no {name} in the details:\n{detail}"))
    };
    assert_eq!(&field("window "), window, "{detail}");
    assert_eq!(&field("culprit "), culprit, "{detail}");
    assert!(segments().any(|seg| seg == fault), "{detail}");
    tmux.keys(&["Escape"]);
    quit_owned_console(&tmux);
    tmux.wait_for("the exit", Duration::from_secs(30), |s| {
        s.contains("EXITED 0")
    });
}

/// The pid of the console: the one child of the pane's shell.
fn console_pid(tmux: &Tmux) -> u32 {
    let out = tmux.cmd(&["list-panes", "-t", "main", "-F", "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("the shell's children");
    let pid = children
        .split_whitespace()
        .next()
        .expect("the console runs");
    pid.parse().expect("a pid")
}

#[test]
fn sigterm_stops_the_console_gracefully() {
    let tmux = Tmux::new("sigterm");
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let command = format!(
        "HOME={home} {bin} --data-dir {data} --block-time 40ms --devnet-seed 4; \
         printf 'EXITED %s\\n' $?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?icanon'; sleep 600",
        home = home.path().display(),
        bin = env!("CARGO_BIN_EXE_tbtc-coord"),
        data = data.display(),
    );
    tmux.start(&command);
    tmux.wait_for("the header", Duration::from_secs(60), |s| {
        block_height(s).is_some()
    });
    let pid = console_pid(&tmux);
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let after = tmux.wait_for("the exit", Duration::from_secs(30), |s| {
        s.contains("EXITED")
    });
    assert!(after.contains("EXITED 0"), "{after}");
    let restored = tmux.wait_for("stty", Duration::from_secs(10), |s| {
        s.lines()
            .any(|l| l.trim() == "icanon" || l.trim() == "-icanon")
    });
    assert!(
        restored.lines().any(|l| l.trim() == "icanon"),
        "raw mode left on:\n{restored}"
    );
}

#[test]
fn the_console_reads_rust_log_and_refuses_a_bad_one() {
    let tmux = Tmux::new("rust-log");
    let home = tempfile::tempdir().unwrap();
    let command = format!(
        "HOME={home} RUST_LOG=tbtc_coord=loud {bin} --data-dir {home}/data; \
         printf 'EXITED %s\\n' $?; sleep 600",
        home = home.path().display(),
        bin = env!("CARGO_BIN_EXE_tbtc-coord"),
    );
    tmux.start(&command);
    let after = tmux.wait_for("the exit", Duration::from_secs(30), |s| {
        s.contains("EXITED")
    });
    assert!(
        after.contains("EXITED 2") && after.contains("RUST_LOG"),
        "{after}"
    );
}

/// A headless node in the background, killed when dropped.
struct HeadlessNode {
    child: std::process::Child,
}

impl HeadlessNode {
    fn start(home: &Path, data: &Path) -> HeadlessNode {
        let child = Command::new(env!("CARGO_BIN_EXE_tbtc-coord"))
            .env("HOME", home)
            .args([
                "run",
                "--headless",
                "--block-time",
                "5ms",
                "--devnet-seed",
                "4",
            ])
            .arg("--data-dir")
            .arg(data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the node starts");
        HeadlessNode { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HeadlessNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `status --json` of the node on `data`, once it answers (the socket appears only once
/// the node has started).
fn node_status(home: &Path, data: &Path) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_tbtc-coord"))
            .env("HOME", home)
            .args(["status", "--json", "--devnet-seed", "4", "--data-dir"])
            .arg(data)
            .output()
            .unwrap();
        if out.status.success() {
            let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if status["running"] == true {
                return status;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no running node answered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn windows_completed(home: &Path, data: &Path) -> u64 {
    node_status(home, data)["windows"]["completed"]
        .as_u64()
        .unwrap()
}

/// The console attaches to a node running headless, shows it live, dry-runs through it, and
/// `q` leaves it running. Killed, the node shows as disconnected; restarted, the console
/// resyncs to the new process.
#[test]
fn an_attached_console_detaches_and_follows_the_node_through_a_restart() {
    let tmux = Tmux::new("attach");
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let mut node = HeadlessNode::start(home.path(), &data);
    node_status(home.path(), &data);
    let command = format!(
        "HOME={home} {bin} console --data-dir {data} --devnet-seed 4; \
         printf 'EXITED %s\\n' $?; sleep 600",
        home = home.path().display(),
        bin = env!("CARGO_BIN_EXE_tbtc-coord"),
        data = data.display(),
    );
    let attach = || {
        let _ = tmux.cmd(&["kill-session", "-t", "main"]);
        tmux.start(&command);
    };
    attach();
    let attached = format!("attached to pid {}", node.pid());
    let screen = tmux.wait_for("the attached header", Duration::from_secs(60), |s| {
        s.contains(&attached) && block_height(s).is_some()
    });
    let first = block_height(&screen).unwrap();
    tmux.wait_for("a higher block", Duration::from_secs(30), |s| {
        block_height(s).is_some_and(|h| h > first)
    });
    tmux.keys(&["?"]);
    tmux.wait_for(
        "the help of an attached console",
        Duration::from_secs(10),
        |s| s.contains("detach: the node keeps running"),
    );
    tmux.keys(&["Escape"]);

    // A dry run, made by the node.
    tmux.wait_for("the first window", Duration::from_secs(60), |s| {
        block_height(s).is_some_and(|h| h >= 905)
    });
    dry_run_the_current_window(&tmux);

    // q detaches: the console exits 0 saying the node runs on, and it runs on and completes
    // more windows.
    tmux.keys(&["q"]);
    let after = tmux.wait_for("the exit", Duration::from_secs(30), |s| {
        s.contains("EXITED")
    });
    assert!(after.contains("EXITED 0"), "{after}");
    assert!(
        after.contains(&format!("Detached. The node runs on (pid {}).", node.pid())),
        "{after}"
    );
    assert!(node.is_running(), "q stopped the node");
    let done = windows_completed(home.path(), &data);
    let deadline = Instant::now() + Duration::from_secs(120);
    while windows_completed(home.path(), &data) <= done {
        assert!(Instant::now() < deadline, "the node stopped coordinating");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The node dies: the console says so, and says it is retrying.
    attach();
    tmux.wait_for("the attached header", Duration::from_secs(60), |s| {
        s.contains(&attached)
    });
    node.kill();
    let gone = tmux.wait_for("disconnected", Duration::from_secs(30), |s| {
        s.contains("disconnected from pid") && s.contains("retrying")
    });
    assert!(gone.contains("What is shown is from before"), "{gone}");

    // Back (its crashed socket replaced): the console resyncs to the new process.
    let node = HeadlessNode::start(home.path(), &data);
    let reattached = format!("attached to pid {}", node.pid());
    let screen = tmux.wait_for("the new node", Duration::from_secs(60), |s| {
        s.contains(&reattached) && !s.contains("disconnected")
    });
    let resumed = block_height(&screen).unwrap_or(0);
    tmux.wait_for("live blocks again", Duration::from_secs(30), |s| {
        block_height(s).is_some_and(|h| h > resumed)
    });
    tmux.keys(&["q"]);
    tmux.wait_for("the exit", Duration::from_secs(30), |s| {
        s.contains("EXITED 0")
    });
}
