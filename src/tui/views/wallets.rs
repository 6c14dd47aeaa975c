//! The Wallets tab: one row per wallet this node coordinates, and the selected wallet's
//! details (its main UTXO on Bitcoin, the seats held) where there is room.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, TableState};
use ratatui::Frame;

use super::fit;
use super::format::{dispatcher, dispatcher_short, executor, seat_list};
use super::pane;
use super::seats::grid;
use crate::engine::snapshot::WalletView;
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// The seats this node holds, as seat numbers (`#10 #13`) while short, else how many.
fn seats(w: &WalletView) -> String {
    let text = seat_list(w.seats.iter().map(|&s| usize::from(s))).join(" ");
    if text.chars().count() > 10 {
        format!("{} seats", w.seats.len())
    } else {
        text
    }
}

fn next_leader<'a>(w: &WalletView, t: &Theme) -> Line<'a> {
    match w.next_leader {
        Some((cb, leader, true)) => Line::from(vec![
            Span::styled(format!("{} ", leader.short()), t.own),
            Span::styled(format!("YOU @{cb}"), t.own),
        ]),
        Some((cb, leader, false)) => {
            Line::from(Span::styled(format!("{} @{cb}", leader.short()), t.base))
        }
        None => Line::from(Span::styled("not yet known", t.dim)),
    }
}

/// Below this width the dispatcher's state is told in fewer words.
pub const NARROW: u16 = 120;

/// The columns, in the order shown, with how long each stays as the width shrinks (0 is kept
/// longest): the wallet, its executor, the next leader and the dispatcher come first.
const COLUMNS: [(&str, u8); 11] = [
    ("Wallet", 0),
    ("Seats", 6),
    ("Online", 5),
    ("Heard", 9),
    ("Executor", 1),
    ("Last", 8),
    ("Leader", 10),
    ("Action", 7),
    ("Faults", 4),
    ("Next leader", 2),
    ("Dispatcher", 3),
];

/// Rows the selected wallet's details take, borders included, when the tab has room.
const DETAILS_HEIGHT: u16 = 5;

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let view = app.view();
    // The table keeps room for every wallet (at least three) before the details get theirs.
    let table_rows = (view.wallets.len().max(3) as u16).saturating_add(3);
    if area.height >= table_rows + DETAILS_HEIGHT {
        let [table, details_area] = Layout::vertical([
            Constraint::Min(table_rows),
            Constraint::Length(DETAILS_HEIGHT),
        ])
        .areas(area);
        render_table(frame, app, table);
        details(frame, app, details_area);
    } else {
        render_table(frame, app, area);
    }
}

/// The selected wallet: its main UTXO on Bitcoin as last read, and the seats held.
fn details(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let view = app.view();
    let Some(w) = view.wallets.get(
        app.wallet_selected
            .min(view.wallets.len().saturating_sub(1)),
    ) else {
        return;
    };
    let width = usize::from(area.width.saturating_sub(2));
    let mut lines = main_utxo_lines(w, app.chain_status.bitcoin.is_some(), t);
    let seats = seat_list(w.seats.iter().map(|&s| usize::from(s))).join(" ");
    lines.push(Line::from(vec![
        Span::styled("Your seats ", t.dim),
        Span::styled(
            if seats.is_empty() {
                "none".to_string()
            } else {
                seats
            },
            t.base,
        ),
        Span::styled(format!(" of {}", w.operators.len()), t.dim),
    ]));
    let lines = fit::wrap_all(&lines, width, 2);
    let title = format!("Wallet {}", w.wallet);
    frame.render_widget(Paragraph::new(lines).block(pane(app, &title)), area);
}

/// What the details say of the wallet's main UTXO.
pub fn main_utxo_lines<'a>(w: &WalletView, bitcoin_view: bool, t: &Theme) -> Vec<Line<'a>> {
    let label = Span::styled("Main UTXO ", t.dim);
    let Some(b) = &w.bitcoin else {
        let why = if bitcoin_view {
            "not read yet (read at each window's start)"
        } else {
            "not read: no Bitcoin view (--electrum-url)"
        };
        return vec![Line::from(vec![label, Span::styled(why, t.dim)])];
    };
    if let Some(e) = &b.error {
        return vec![Line::from(vec![
            label,
            Span::styled(format!("not read at block {}: {e}", b.block), t.warning),
        ])];
    }
    let mut lines = Vec::new();
    match &b.main_utxo {
        Some(u) => {
            let confirmations = b.confirmations.unwrap_or(0);
            lines.push(Line::from(vec![
                label,
                Span::styled(format!("{} BTC", btc(u.value)), t.base),
                Span::styled(format!("  {}:{}", u.tx_hash.short(), u.output_index), t.dim),
                Span::styled(
                    format!(
                        "  {confirmations} confirmation{}",
                        if confirmations == 1 { "" } else { "s" }
                    ),
                    t.base,
                ),
            ]));
        }
        None if !b.has_main_utxo => {
            lines.push(Line::from(vec![
                label,
                Span::styled(format!("none on the Bridge (block {})", b.block), t.dim),
            ]));
        }
        None => lines.push(Line::from(vec![
            label,
            Span::styled("not found on Bitcoin", t.warning),
        ])),
    }
    match (&b.warning, b.synced) {
        (Some(w), _) => lines.push(Line::from(Span::styled(
            format!("Not synced between chains: {w}"),
            t.warning,
        ))),
        (None, Some(true)) => lines.push(Line::from(Span::styled(
            format!("Synced between chains (read at block {})", b.block),
            t.ok,
        ))),
        (None, _) => {}
    }
    lines
}

/// Satoshi as BTC with all eight decimals.
fn btc(sat: u64) -> String {
    format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000)
}

fn render_table(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let view = app.view();
    let head = app.head();
    let me = view.operator;
    let online = view.network.online_operators();
    // Only the rows that fit are worked out: seat states cost a walk over the wallet's seats.
    let visible = usize::from(area.height.saturating_sub(3)).max(1);
    let selected = app
        .wallet_selected
        .min(view.wallets.len().saturating_sub(1));
    let first = selected.saturating_sub(visible - 1);
    let narrow = area.width < NARROW;
    let cells: Vec<Vec<Line>> = view
        .wallets
        .iter()
        .skip(first)
        .take(visible)
        .map(|w| {
            let g = grid(w, &view.network, me, &online);
            let online_cell = Span::styled(
                format!("{}/{}", g.online, g.seats.len()),
                if g.online < g.seats.len() {
                    t.warning
                } else {
                    t.base
                },
            );
            let heard_cell = match g.coordination_block {
                Some(_) => {
                    Span::styled(g.heard.to_string(), if g.heard > 0 { t.ok } else { t.dim })
                }
                None => Span::styled("-", t.dim),
            };
            let (last, leader, action, faults) = match &w.last_result {
                Some(r) => (
                    r.coordination_block.to_string(),
                    if Some(r.leader) == me {
                        Span::styled(format!("{} (you)", r.leader.short()), t.own)
                    } else {
                        Span::styled(r.leader.short(), t.base)
                    },
                    r.action.name().to_string(),
                    if r.faults.is_empty() {
                        Span::styled("0", t.dim)
                    } else {
                        Span::styled(r.faults.len().to_string(), t.critical)
                    },
                ),
                None => (
                    "-".into(),
                    Span::styled("-", t.dim),
                    "-".into(),
                    Span::styled("-", t.dim),
                ),
            };
            vec![
                Line::from(w.wallet.short()),
                Line::from(seats(w)),
                Line::from(online_cell),
                Line::from(heard_cell),
                Line::from(executor(&w.executor, head)),
                Line::from(last),
                Line::from(leader),
                Line::from(action),
                Line::from(faults),
                next_leader(w, t),
                Line::from(if narrow {
                    dispatcher_short(&w.dispatcher, head)
                } else {
                    dispatcher(&w.dispatcher, head)
                }),
            ]
        })
        .collect();
    // Inside the borders, less the selection mark.
    let fitted = fit::table(
        usize::from(area.width.saturating_sub(2 + 2)),
        &COLUMNS,
        cells,
    );
    let table = fitted.into_table(t.title, t.base);
    let title = wallets_title(view);
    let table = table
        .block(pane(app, &title))
        .row_highlight_style(t.selected)
        .highlight_symbol("▶ ");
    let mut state =
        TableState::default().with_selected((!view.wallets.is_empty()).then_some(selected - first));
    frame.render_stateful_widget(table, area, &mut state);
}

/// What the wallet count counts: the wallets this node coordinates, those in which its
/// operator holds a seat (the devnet has more).
pub fn wallets_title(view: &crate::engine::snapshot::NodeSnapshot) -> String {
    if view.observer || view.operator.is_none() {
        format!("Wallets ({})", view.wallets.len())
    } else {
        format!("Wallets with your seats ({})", view.wallets.len())
    }
}
