//! Scroll offsets of what can be longer than the screen: the help, a fault's details (and a
//! dry run's result), and the Network tab's seat grid. Keys move an offset; drawing clamps it
//! to what the text needs and remembers that bound, so the next key never scrolls past the end.

use std::cell::Cell;

use crossterm::event::KeyCode;

use super::state::{DryRunOutcome, Popup};

/// A vertical offset into a text of some lines shown in a smaller view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scroll {
    offset: usize,
    /// The largest useful offset and the view's height, as of the last frame drawn.
    max: Cell<Option<usize>>,
    page: Cell<usize>,
}

impl Scroll {
    /// Moves for a key; `false` if the key is not a scrolling one.
    pub fn key(&mut self, code: KeyCode) -> bool {
        let page = self.page.get().max(1);
        let offset = match code {
            KeyCode::Down | KeyCode::Char('j') => self.offset.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => self.offset.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => self.offset.saturating_add(page),
            KeyCode::PageUp => self.offset.saturating_sub(page),
            KeyCode::Home | KeyCode::Char('g') => 0,
            KeyCode::End | KeyCode::Char('G') => usize::MAX,
            _ => return false,
        };
        self.offset = match self.max.get() {
            Some(max) => offset.min(max),
            None => offset,
        };
        true
    }

    /// The first line to show of `content` lines in a view of `view` lines (remembered for
    /// the next key).
    pub fn first_line(&self, content: usize, view: usize) -> usize {
        let max = content.saturating_sub(view);
        self.max.set(Some(max));
        self.page.set(view.saturating_sub(1).max(1));
        self.offset.min(max)
    }

    pub fn reset(&mut self) {
        *self = Scroll::default();
    }
}

/// The seat grid's rows: follow the leader's row until the operator scrolls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeatScroll {
    /// The first row the operator chose; `None` follows the leader.
    first: Option<usize>,
    max: Cell<Option<usize>>,
}

impl SeatScroll {
    pub fn key(&mut self, code: KeyCode, current_first: usize) -> bool {
        let first = match code {
            KeyCode::PageDown => current_first.saturating_add(1),
            KeyCode::PageUp => current_first.saturating_sub(1),
            _ => return false,
        };
        self.first = Some(match self.max.get() {
            Some(max) => first.min(max),
            None => first,
        });
        true
    }

    /// The first grid row to draw when `rows` rows have `room` lines: the operator's choice,
    /// else the row that puts the leader's seat (then this node's first seat) in view.
    pub fn first_row(&self, rows: usize, room: usize, focus: &[usize]) -> usize {
        let max = rows.saturating_sub(room.max(1));
        self.max.set(Some(max));
        match self.first {
            Some(f) => f.min(max),
            None => focus.first().map_or(0, |&r| r.min(max)),
        }
    }

    /// The first row drawn in the last frame (where the keys move from).
    pub fn shown_first(&self) -> Option<usize> {
        self.first
    }

    /// Back to following the leader (another wallet was chosen).
    pub fn follow(&mut self) {
        self.first = None;
    }
}

/// Every scroll offset the console keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scrolls {
    pub help: Scroll,
    /// A fault's details or a dry run's result.
    pub detail: Scroll,
    pub seats: SeatScroll,
    /// The first seat-grid row drawn last (keys move from it while following the leader).
    pub seats_drawn: Cell<usize>,
    /// The Logs tab's targets pane is hidden (`h`).
    pub log_targets_hidden: bool,
}

impl Scrolls {
    /// Scrolls the popup for a key. `true` if the key scrolled it (the popup stays open).
    pub fn on_popup_key(&mut self, popup: &Popup, code: KeyCode) -> bool {
        match popup {
            Popup::Help => self.help.key(code),
            Popup::FaultDetail(_) | Popup::DryRun(DryRunOutcome::Done(_)) => self.detail.key(code),
            _ => false,
        }
    }

    /// A popup is about to open: it starts at its top.
    pub fn popup_closed(&mut self) {
        self.help.reset();
        self.detail.reset();
    }

    /// The Logs tab's keys: `h` hides or shows the targets pane (the console draws the two
    /// panes itself). Never consumes the key: tui-logger's state sees it too.
    pub fn on_logs_key(&mut self, code: KeyCode) {
        if code == KeyCode::Char('h') {
            self.log_targets_hidden = !self.log_targets_hidden;
        }
    }

    /// The Network tab's grid keys (PgUp, PgDn). `true` if it scrolled.
    pub fn on_network_key(&mut self, code: KeyCode) -> bool {
        if matches!(
            code,
            KeyCode::Left | KeyCode::Right | KeyCode::Char('h') | KeyCode::Char('l')
        ) {
            // Another wallet: its grid starts at its leader.
            self.seats.follow();
            return false;
        }
        let from = self.seats.shown_first().unwrap_or(self.seats_drawn.get());
        self.seats.key(code, from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scroll_stops_at_both_ends_of_what_was_drawn() {
        let mut s = Scroll::default();
        // 30 lines in a view of 10: the last useful offset is 20.
        assert_eq!(s.first_line(30, 10), 0);
        assert!(s.key(KeyCode::Char('j')));
        assert_eq!(s.first_line(30, 10), 1);
        assert!(s.key(KeyCode::PageDown));
        assert_eq!(s.first_line(30, 10), 10, "a page is the view less one line");
        for _ in 0..50 {
            s.key(KeyCode::Down);
        }
        assert_eq!(s.first_line(30, 10), 20);
        // Up moves at once: the offset never went past the end.
        s.key(KeyCode::Up);
        assert_eq!(s.first_line(30, 10), 19);
        s.key(KeyCode::Home);
        assert_eq!(s.first_line(30, 10), 0);
        s.key(KeyCode::End);
        assert_eq!(s.first_line(30, 10), 20);
        s.key(KeyCode::PageUp);
        assert_eq!(s.first_line(30, 10), 11);
        // A text that fits does not scroll.
        assert_eq!(s.first_line(5, 10), 0);
        assert!(!s.key(KeyCode::Char('x')));
    }

    #[test]
    fn the_seat_grid_follows_the_leader_until_scrolled() {
        let mut s = SeatScroll::default();
        // Seven rows, two fit; the leader's seat is on row 4 and this node's on row 1.
        assert_eq!(s.first_row(7, 2, &[4, 1]), 4);
        // The leader on the last row: the view ends there, the row is in it.
        assert_eq!(s.first_row(7, 2, &[6]), 5);
        // Everything fits: from the top.
        assert_eq!(s.first_row(7, 7, &[6]), 0);
        s.first_row(7, 2, &[4]);
        assert!(s.key(KeyCode::PageUp, 4));
        assert_eq!(s.first_row(7, 2, &[4]), 3);
        assert!(s.key(KeyCode::PageDown, 3));
        assert!(s.key(KeyCode::PageDown, 4));
        assert!(s.key(KeyCode::PageDown, 5));
        assert_eq!(s.first_row(7, 2, &[4]), 5, "never past the last row");
        s.follow();
        assert_eq!(s.first_row(7, 2, &[2]), 2);
    }

    #[test]
    fn popups_scroll_only_those_that_are_text() {
        let mut s = Scrolls::default();
        assert!(s.on_popup_key(&Popup::Help, KeyCode::Down));
        assert!(!s.on_popup_key(&Popup::Help, KeyCode::Esc));
        assert_eq!(s.help.first_line(100, 10), 1);
        s.popup_closed();
        assert_eq!(s.help.first_line(100, 10), 0);
    }
}
