//! The dry-run dialog (next window, current window, or a typed block) and its result.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{centered, fit, popup_frame, scrolled_popup};
use crate::protocol::action::join_names;
use crate::tui::app::{App, DryRunChoice, DryRunDialog, DryRunOutcome};

pub fn render_dialog(frame: &mut Frame, app: &App, dialog: &DryRunDialog, area: Rect) {
    let t = &app.theme;
    let option = |choice: DryRunChoice, text: String| {
        let selected = dialog.choice == choice;
        Line::from(vec![
            Span::styled(if selected { "▶ " } else { "  " }, t.accent),
            Span::styled(text, if selected { t.selected } else { t.base }),
        ])
    };
    let typed = if dialog.block_input.is_empty() {
        "type digits".to_string()
    } else {
        dialog.block_input.clone()
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("wallet ", t.dim),
            Span::styled(dialog.wallet.to_string(), t.base),
        ]),
        Line::from(""),
        option(DryRunChoice::Next, "n  next window".into()),
        option(DryRunChoice::Current, "c  current window".into()),
        option(DryRunChoice::Block, format!("b  window at block: {typed}")),
        Line::from(""),
    ];
    if let Some(e) = &dialog.error {
        lines.push(Line::from(Span::styled(e.clone(), t.critical)));
    }
    lines.push(Line::from(Span::styled(
        "↑↓ choose · Enter runs · Esc cancels · nothing is sent",
        t.dim,
    )));
    // Wrapped at the dialog's width, every line counted in its height.
    let width = 70.min(area.width);
    let lines = fit::wrap_all(&lines, usize::from(width.saturating_sub(2)), 2);
    let inner = popup_frame(
        frame,
        app,
        centered(area, width, lines.len() as u16 + 2),
        "Dry run",
    );
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn render_outcome(frame: &mut Frame, app: &App, outcome: &DryRunOutcome, area: Rect) {
    let t = &app.theme;
    let field =
        |k: &str, v: Span<'static>| Line::from(vec![Span::styled(format!("{k:<16}"), t.dim), v]);
    let lines: Vec<Line> = match outcome {
        DryRunOutcome::Pending { wallet } => vec![Line::from(Span::styled(
            format!("running a dry run of {}…", wallet.short()),
            t.base,
        ))],
        DryRunOutcome::Failed { wallet, error } => vec![
            Line::from(Span::styled(
                format!("dry run of {} failed:", wallet.short()),
                t.critical,
            )),
            Line::from(Span::styled(error.clone(), t.base)),
            Line::from(""),
            Line::from(Span::styled("Nothing was sent or dispatched.", t.dim)),
        ],
        DryRunOutcome::Done(r) => {
            let leader = if r.leader_is_self {
                Span::styled(format!("{} (you)", r.leader), t.own)
            } else {
                Span::styled(r.leader.to_string(), t.base)
            };
            let checklist = if r.checklist.is_empty() {
                "(empty)".to_string()
            } else {
                join_names(&r.checklist)
            };
            let mut lines = vec![
                field("wallet", Span::styled(r.wallet.to_string(), t.base)),
                field(
                    "window",
                    Span::styled(
                        format!(
                            "{} (#{}), head {}",
                            r.coordination_block,
                            r.coordination_block / 900,
                            r.current_block
                        ),
                        t.base,
                    ),
                ),
                field(
                    "safe block",
                    Span::styled(format!("{} (rule {})", r.safe_block, r.hash_rule), t.base),
                ),
                field(
                    "safe hash",
                    Span::styled(r.safe_block_hash.to_string(), t.base),
                ),
                field("seed", Span::styled(r.seed.to_string(), t.base)),
                field("leader", leader),
                field("checklist", Span::styled(checklist, t.accent)),
            ];
            let proposal = r
                .proposal
                .as_ref()
                .filter(|p| **p != crate::protocol::Proposal::Noop)
                .map(|p| p.summary());
            match proposal {
                Some(summary) => lines.push(field("as leader", Span::styled(summary, t.ok))),
                None => lines.push(field("as leader", Span::styled("Noop", t.base))),
            }
            // Each checklist action: its candidate and the validator's verdict, or why it has
            // none; the chosen one stands out.
            for a in &r.actions {
                let (text, style) = match (&a.candidate, &a.validation) {
                    (Some(p), Some(v)) if a.chosen() => {
                        (format!("{} ({})", p.summary(), v.summary()), t.ok)
                    }
                    (Some(p), Some(v)) => (format!("{} ({})", p.summary(), v.summary()), t.warning),
                    (Some(p), None) => (format!("{} (not weighed)", p.summary()), t.dim),
                    (None, _) => (
                        a.reason.clone().unwrap_or_else(|| "no candidate".into()),
                        t.dim,
                    ),
                };
                lines.push(field(
                    &format!("  {}", a.action.name()),
                    Span::styled(text, style),
                ));
            }
            if let Some(btc) = &r.bitcoin {
                for d in &btc.deposits {
                    lines.push(field(
                        "  deposit",
                        Span::styled(
                            format!(
                                "{}…:{} {} conf, {}",
                                &d.funding_tx_hash.to_string()[..12],
                                d.output_index,
                                d.confirmations,
                                if d.included { "swept" } else { "not swept" }
                            ),
                            if d.included { t.ok } else { t.dim },
                        ),
                    ));
                }
                let (text, style) = match (&btc.main_utxo, btc.synced, &btc.warning) {
                    (_, _, Some(w)) => (w.clone(), t.critical),
                    (Some(u), Some(true), None) => (
                        format!(
                            "{}…:{} unspent: the chains agree",
                            &u.tx_hash.to_string()[..12],
                            u.output_index
                        ),
                        t.ok,
                    ),
                    (Some(u), _, None) => (
                        format!("{}…:{}", &u.tx_hash.to_string()[..12], u.output_index),
                        t.base,
                    ),
                    (None, _, None) => ("none".to_string(), t.dim),
                };
                lines.push(field("main UTXO", Span::styled(text, style)));
            }
            if let (Some(reason), true) = (&r.reason, r.actions.is_empty()) {
                lines.push(field("why", Span::styled(reason.clone(), t.dim)));
            }
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                "Nothing was sent or dispatched. Kept in history (Proposals).",
                t.warning,
            )));
            lines
        }
    };
    scrolled_popup(
        frame,
        app,
        area,
        "Dry run result",
        lines,
        96,
        &app.scroll.detail,
    );
}
