//! The help overlay: every key.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::fit;
use super::scrolled_popup;
use crate::tui::app::App;

pub const KEYS: &[(&str, &[(&str, &str)])] = &[
    (
        "Everywhere",
        &[
            ("Tab / Shift-Tab", "next / previous tab"),
            (
                "1 … 6",
                "Overview, Wallets, Network, Faults, Proposals, Logs",
            ),
            ("?", "this help"),
            ("Esc", "close a popup or cancel an input"),
            (
                "↑ ↓  PgUp PgDn",
                "scroll this help, a fault's details or a dry run's result",
            ),
            ("p", "pause / resume the view (the node keeps running)"),
            ("q, Ctrl-C", QUIT_KEY_WHAT),
        ],
    ),
    (
        "Overview, Wallets",
        &[
            ("↑ ↓  j k", "select a wallet"),
            (
                "d",
                "dry run the selected wallet: next, current or a typed window",
            ),
        ],
    ),
    (
        "Network",
        &[
            ("↑ ↓  j k", "scroll the peers"),
            ("← →  h l", "the wallet whose seats the grid shows"),
            (
                "PgUp PgDn",
                "scroll the seat grid (it starts at the leader's row)",
            ),
        ],
    ),
    (
        "Faults",
        &[
            ("↑ ↓  PgUp PgDn  g G", "move through the history"),
            ("Enter", "details of the selected fault"),
            ("/", "search wallet, operator or type"),
            ("t", "cycle the type filter"),
            (
                "o / w",
                "only the selected fault's operator / wallet (again: all)",
            ),
            ("r", "window range, e.g. 900-5400"),
            ("s", "cycle the sort order"),
            ("u", "per-operator summary"),
            ("c", "clear all filters"),
        ],
    ),
    (
        "Proposals",
        &[
            ("↑ ↓  j k  g G", "select a dispatch or a dry run"),
            ("Enter", "a dry run's result again"),
        ],
    ),
    (
        "Logs",
        &[
            ("h / f", "hide targets / focus the selected target"),
            ("↑ ↓", "select a target"),
            ("← → / + -", "shown / captured level of the target"),
            ("PgUp PgDn", "scroll"),
        ],
    ),
];

/// The quit key's line, as [`KEYS`] has it: for a node in this process.
const QUIT_KEY_WHAT: &str =
    "quit: stops the node this console runs (q asks first during an active phase or while \
     other consoles are attached)";
/// The same key in an attached console.
const DETACH_KEY_WHAT: &str = "detach: the node keeps running";

/// The help's lines at `width` columns: each key's text wraps under itself.
pub fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut lines = Vec::new();
    for (section, keys) in KEYS {
        lines.push(Line::from(Span::styled(*section, t.title)));
        for (key, what) in *keys {
            let what = if *what == QUIT_KEY_WHAT && app.link.is_remote() {
                DETACH_KEY_WHAT
            } else {
                what
            };
            let line = Line::from(vec![
                Span::styled(format!("  {key:<20} "), t.accent),
                Span::styled(what, t.base),
            ]);
            lines.extend(fit::wrap(&line, width, 23));
        }
    }
    lines
}

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let width = 78.min(area.width);
    let lines = lines(app, usize::from(width.saturating_sub(2)));
    scrolled_popup(frame, app, area, "Keys", lines, width, &app.scroll.help);
}
