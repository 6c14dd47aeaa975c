//! The console's key handling: what each key does on each tab, in a popup and in the Faults
//! tab's text inputs. Part of the [`App`] reducer, kept apart from the folding of the node's
//! updates because the two change for different reasons (key bindings versus node events).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{dry_run_record, App};
use super::state::{
    cycle, DryRunChoice, DryRunDialog, DryRunOutcome, FaultInput, Popup, ProposalItem, Request, Tab,
};
use crate::engine::records::{FaultFilter, FaultOrder};
use crate::engine::DryRunWindow;
use crate::protocol::window::{next_window_after, window_at_or_before};
use crate::protocol::FaultType;

impl App {
    /// Handles one key. Returns what the run loop must do, if anything.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Request> {
        // Only presses: terminals that report releases and repeats would double every key.
        if key.kind != KeyEventKind::Press {
            return None;
        }
        self.dirty = true;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.should_quit = true;
            return Some(Request::Quit);
        }
        if let Some(popup) = self.popup.take() {
            if self.scroll.on_popup_key(&popup, key.code) {
                self.popup = Some(popup);
                return None;
            }
            return self.on_popup_key(popup, key);
        }
        // A popup opened from here starts at its top.
        self.scroll.popup_closed();
        if self.tab == Tab::Faults && self.faults.input.is_some() {
            self.on_fault_input_key(key);
            return None;
        }
        match key.code {
            // Detaching leaves the node running; stopping one mid-window (or under other
            // clients) is asked about first.
            KeyCode::Char('q') => match self.quit_warning() {
                Some(warning) => self.popup = Some(Popup::ConfirmQuit(warning)),
                None => {
                    self.should_quit = true;
                    return Some(Request::Quit);
                }
            },
            KeyCode::Char('?') => self.popup = Some(Popup::Help),
            KeyCode::Char('p') => self.toggle_pause(),
            KeyCode::Tab => self.tab = self.tab.offset(1),
            KeyCode::BackTab => self.tab = self.tab.offset(-1),
            KeyCode::Char(c @ '1'..='6') => self.tab = Tab::ALL[(c as usize) - ('1' as usize)],
            _ => return self.on_tab_key(key),
        }
        None
    }

    fn on_tab_key(&mut self, key: KeyEvent) -> Option<Request> {
        match self.tab {
            Tab::Overview | Tab::Wallets => {
                let n = self.view().wallets.len();
                match key.code {
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.select_wallet(self.wallet_selected.saturating_sub(1))
                    }
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.select_wallet(self.wallet_selected + 1)
                    }
                    KeyCode::Home | KeyCode::Char('g') => self.select_wallet(0),
                    KeyCode::End | KeyCode::Char('G') => self.select_wallet(n.saturating_sub(1)),
                    KeyCode::Char('d') => {
                        // The next window's leader is known once its safe block exists;
                        // until then the current window is the useful default.
                        let next_known = self
                            .head()
                            .is_some_and(|h| next_window_after(h).safe_block() <= h);
                        let has_current = self.head().and_then(window_at_or_before).is_some();
                        let choice = if next_known || !has_current {
                            DryRunChoice::Next
                        } else {
                            DryRunChoice::Current
                        };
                        if let Some(w) = self.view().wallets.get(self.wallet_selected) {
                            self.popup = Some(Popup::DryRunDialog(DryRunDialog {
                                wallet: w.wallet,
                                choice,
                                block_input: String::new(),
                                error: None,
                            }));
                        }
                    }
                    _ => {}
                }
            }
            Tab::Network if self.scroll.on_network_key(key.code) => {}
            Tab::Network => match key.code {
                KeyCode::Up | KeyCode::Char('k') => {
                    self.scroll_peers(self.peer_scroll.saturating_sub(1))
                }
                KeyCode::Down | KeyCode::Char('j') => self.scroll_peers(self.peer_scroll + 1),
                // The seat grid shows the selected wallet, the same one as on Wallets.
                KeyCode::Left | KeyCode::Char('h') => {
                    self.select_wallet(self.wallet_selected.saturating_sub(1))
                }
                KeyCode::Right | KeyCode::Char('l') => self.select_wallet(self.wallet_selected + 1),
                _ => {}
            },
            Tab::Faults => self.on_faults_key(key),
            Tab::Proposals => {
                let p = &mut self.proposals;
                match key.code {
                    KeyCode::Up | KeyCode::Char('k') => p.select(p.selected.saturating_sub(1)),
                    KeyCode::Down | KeyCode::Char('j') => p.select(p.selected + 1),
                    KeyCode::Home | KeyCode::Char('g') => p.select(0),
                    KeyCode::End | KeyCode::Char('G') => p.select(usize::MAX),
                    // A dry run's result again, as it was shown when it was made.
                    KeyCode::Enter => {
                        if let Some(ProposalItem::DryRun(row)) = p.selected_item() {
                            let record = dry_run_record(row);
                            self.popup = Some(Popup::DryRun(DryRunOutcome::Done(Box::new(record))));
                        }
                    }
                    _ => {}
                }
            }
            Tab::Logs => {
                self.scroll.on_logs_key(key.code);
                use tui_logger::TuiWidgetEvent as E;
                let event = match key.code {
                    KeyCode::Char('h') => Some(E::HideKey),
                    KeyCode::Char('f') => Some(E::FocusKey),
                    KeyCode::Up => Some(E::UpKey),
                    KeyCode::Down => Some(E::DownKey),
                    KeyCode::Left => Some(E::LeftKey),
                    KeyCode::Right => Some(E::RightKey),
                    KeyCode::Char('+') => Some(E::PlusKey),
                    KeyCode::Char('-') => Some(E::MinusKey),
                    KeyCode::PageUp => Some(E::PrevPageKey),
                    KeyCode::PageDown => Some(E::NextPageKey),
                    KeyCode::Esc => Some(E::EscapeKey),
                    KeyCode::Char(' ') => Some(E::SpaceKey),
                    _ => None,
                };
                if let Some(e) = event {
                    self.logs.transition(e);
                }
            }
        }
        None
    }

    fn on_faults_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.move_fault_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_fault_selection(1),
            KeyCode::PageUp => self.move_fault_selection(-20),
            KeyCode::PageDown => self.move_fault_selection(20),
            KeyCode::Home | KeyCode::Char('g') => self.move_fault_selection(i64::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_fault_selection(i64::MAX / 2),
            KeyCode::Enter => {
                if let Some(row) = self.faults.selected_row() {
                    self.popup = Some(Popup::FaultDetail(Box::new(row.clone())));
                }
            }
            KeyCode::Char('/') => {
                let current = self.faults.filter.search.clone().unwrap_or_default();
                self.faults.input = Some((FaultInput::Search, current));
            }
            KeyCode::Char('r') => {
                let current = self.faults.range_text();
                self.faults.input = Some((FaultInput::WindowRange, current));
            }
            KeyCode::Char('t') => self.set_fault_filter(|f| {
                f.fault = match f.fault {
                    None => Some(FaultType::LeaderIdleness),
                    Some(FaultType::LeaderIdleness) => Some(FaultType::LeaderMistake),
                    Some(FaultType::LeaderMistake) => Some(FaultType::LeaderImpersonation),
                    Some(FaultType::LeaderImpersonation) => None,
                }
            }),
            KeyCode::Char('o') => {
                let culprit = self.faults.selected_row().map(|r| r.culprit);
                self.set_fault_filter(|f| {
                    f.operator = if f.operator.is_some() { None } else { culprit }
                });
            }
            KeyCode::Char('w') => {
                let wallet = self.faults.selected_row().map(|r| r.wallet);
                self.set_fault_filter(|f| {
                    f.wallet = if f.wallet.is_some() { None } else { wallet }
                });
            }
            KeyCode::Char('c') => self.set_fault_filter(|f| *f = FaultFilter::default()),
            KeyCode::Char('s') => {
                self.faults.order = cycle(&FaultOrder::ALL, self.faults.order, 1);
                self.set_fault_filter(|_| {});
            }
            KeyCode::Char('u') => {
                self.faults.show_summary = !self.faults.show_summary;
                self.faults.stale = true;
                self.faults.counts_stale = true;
            }
            _ => {}
        }
    }

    fn on_fault_input_key(&mut self, key: KeyEvent) {
        let Some((kind, mut text)) = self.faults.input.take() else {
            return;
        };
        match key.code {
            KeyCode::Esc => {
                self.faults.input_error = None;
                return;
            }
            KeyCode::Enter => {
                match kind {
                    FaultInput::Search => {
                        let search = (!text.trim().is_empty()).then(|| text.trim().to_string());
                        self.set_fault_filter(|f| f.search = search);
                    }
                    FaultInput::WindowRange => match parse_range(&text) {
                        Ok((from, to)) => self.set_fault_filter(|f| {
                            f.from_block = from;
                            f.to_block = to;
                        }),
                        // Said while the prompt is still open, beside the text to fix.
                        Err(e) => {
                            self.faults.input_error = Some(e);
                            self.faults.input = Some((kind, text));
                            return;
                        }
                    },
                }
                self.faults.input_error = None;
                return;
            }
            KeyCode::Backspace => {
                text.pop();
                self.faults.input_error = None;
            }
            KeyCode::Char(c) if text.chars().count() < 64 => {
                text.push(c);
                self.faults.input_error = None;
            }
            _ => {}
        }
        self.faults.input = Some((kind, text));
    }

    fn on_popup_key(&mut self, popup: Popup, key: KeyEvent) -> Option<Request> {
        match popup {
            Popup::DryRunDialog(mut dialog) => match key.code {
                KeyCode::Esc => {}
                KeyCode::Up | KeyCode::BackTab => {
                    dialog.choice = cycle(&DryRunChoice::ALL, dialog.choice, -1);
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Down | KeyCode::Tab => {
                    dialog.choice = cycle(&DryRunChoice::ALL, dialog.choice, 1);
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Char('n') if dialog.choice != DryRunChoice::Block => {
                    dialog.choice = DryRunChoice::Next;
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Char('c') if dialog.choice != DryRunChoice::Block => {
                    dialog.choice = DryRunChoice::Current;
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Char('b') if dialog.choice != DryRunChoice::Block => {
                    dialog.choice = DryRunChoice::Block;
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Char(c) if c.is_ascii_digit() => {
                    dialog.choice = DryRunChoice::Block;
                    if dialog.block_input.len() < 20 {
                        dialog.block_input.push(c);
                    }
                    dialog.error = None;
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Backspace => {
                    dialog.block_input.pop();
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Enter => {
                    let window = match dialog.choice {
                        DryRunChoice::Next => DryRunWindow::Next,
                        DryRunChoice::Current => DryRunWindow::Current,
                        DryRunChoice::Block => match dialog.block_input.parse::<u64>() {
                            Ok(cb) if crate::protocol::window::is_coordination_block(cb) => {
                                DryRunWindow::At(cb)
                            }
                            _ => {
                                dialog.error = Some(format!(
                                    "{:?} is not a coordination block: expected a positive multiple of 900",
                                    dialog.block_input
                                ));
                                self.popup = Some(Popup::DryRunDialog(dialog));
                                return None;
                            }
                        },
                    };
                    self.popup = Some(Popup::DryRun(DryRunOutcome::Pending {
                        wallet: dialog.wallet,
                    }));
                    return Some(Request::DryRun {
                        wallet: dialog.wallet,
                        window,
                    });
                }
                _ => self.popup = Some(Popup::DryRunDialog(dialog)),
            },
            Popup::ConfirmQuit(warning) => match key.code {
                KeyCode::Char('y') => {
                    self.should_quit = true;
                    return Some(Request::Quit);
                }
                KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('q') => {}
                _ => self.popup = Some(Popup::ConfirmQuit(warning)),
            },
            // Help, results and details: Esc (or q, Enter) closes; anything else keeps it.
            other => {
                if !matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char('?')
                ) {
                    self.popup = Some(other);
                }
            }
        }
        None
    }

    fn move_fault_selection(&mut self, by: i64) {
        let f = &mut self.faults;
        if f.total == 0 {
            return;
        }
        let target = (f.selected as i64 + by).clamp(0, f.total as i64 - 1) as u64;
        f.select(target);
    }

    fn set_fault_filter(&mut self, change: impl FnOnce(&mut FaultFilter)) {
        change(&mut self.faults.filter);
        self.faults.selected = 0;
        self.faults.selected_id = None;
        self.faults.new_above = 0;
        self.faults.page_offset = 0;
        self.faults.rows.clear();
        self.faults.stale = true;
        self.faults.counts_stale = true;
    }
}

/// `FROM-TO`, either side optional: "900-5400", "900-", "-5400", "1800".
pub fn parse_range(text: &str) -> Result<(Option<u64>, Option<u64>), String> {
    let text = text.trim();
    let parse = |s: &str| -> Result<Option<u64>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse()
            .map(Some)
            .map_err(|_| format!("{s:?} is not a block number"))
    };
    let (from, to) = match text.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let one = parse(text)?;
            (one, one)
        }
    };
    if let (Some(a), Some(b)) = (from, to) {
        if a > b {
            return Err(format!(
                "window range {a}-{b} is empty: FROM must not exceed TO"
            ));
        }
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("900-5400"), Ok((Some(900), Some(5400))));
        assert_eq!(parse_range("900-"), Ok((Some(900), None)));
        assert_eq!(parse_range("-5400"), Ok((None, Some(5400))));
        assert_eq!(parse_range("1800"), Ok((Some(1800), Some(1800))));
        assert_eq!(parse_range(""), Ok((None, None)));
        assert!(parse_range("x-1").is_err());
        assert!(parse_range("5400-900").is_err());
    }
}
