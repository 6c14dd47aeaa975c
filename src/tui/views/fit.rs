//! Fitting text to the width there is: a line made of parts that are dropped whole, least
//! important first, and table columns chosen the same way. Nothing is cut mid-word: what does
//! not fit is left out, and the most important parts are kept.

use ratatui::layout::Constraint;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

/// Display width of some spans.
pub fn width(spans: &[Span]) -> usize {
    spans.iter().map(Span::width).sum()
}

/// One part of a line: its spans and how important it is (0 is kept longest).
pub struct Part<'a> {
    pub rank: u8,
    pub spans: Vec<Span<'a>>,
}

impl<'a> Part<'a> {
    pub fn new(rank: u8, spans: Vec<Span<'a>>) -> Part<'a> {
        Part { rank, spans }
    }

    pub fn one(rank: u8, span: Span<'a>) -> Part<'a> {
        Part {
            rank,
            spans: vec![span],
        }
    }
}

/// The parts, in their order, joined by `sep`, leaving out the least important ones (highest
/// rank; among equals the last) until the line fits `max`. What is left when only rank 0
/// remains is returned as it is.
pub fn line<'a>(max: usize, parts: Vec<Part<'a>>, sep: Span<'a>) -> Line<'a> {
    let mut keep = vec![true; parts.len()];
    let total = |keep: &[bool]| {
        let mut n = 0;
        let mut first = true;
        for (p, k) in parts.iter().zip(keep) {
            if *k && !p.spans.is_empty() {
                n += width(&p.spans) + if first { 0 } else { sep.width() };
                first = false;
            }
        }
        n
    };
    while total(&keep) > max {
        let drop = parts
            .iter()
            .enumerate()
            .filter(|(i, p)| keep[*i] && p.rank > 0)
            .max_by_key(|(i, p)| (p.rank, *i))
            .map(|(i, _)| i);
        match drop {
            Some(i) => keep[i] = false,
            None => break,
        }
    }
    let mut spans = Vec::new();
    for (p, k) in parts.into_iter().zip(keep) {
        if k && !p.spans.is_empty() {
            if !spans.is_empty() {
                spans.push(sep.clone());
            }
            spans.extend(p.spans);
        }
    }
    Line::from(spans)
}

/// The first of `candidates` (most detailed first) that fits `max`, else the last.
pub fn first_fitting<'a>(max: usize, candidates: Vec<Vec<Span<'a>>>) -> Line<'a> {
    let mut last = Vec::new();
    for c in candidates {
        if width(&c) <= max {
            return Line::from(c);
        }
        last = c;
    }
    Line::from(last)
}

/// Which columns of a table fit `max` cells: each column's width and rank (0 is kept
/// longest), `spacing` cells between columns. Returns the indices kept, in order.
pub fn columns(max: usize, widths: &[usize], ranks: &[u8], spacing: usize) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..widths.len()).collect();
    let total = |keep: &[usize]| {
        keep.iter().map(|&i| widths[i]).sum::<usize>() + spacing * keep.len().saturating_sub(1)
    };
    while total(&keep) > max && keep.len() > 1 {
        let Some(pos) = keep
            .iter()
            .enumerate()
            .max_by_key(|(pos, &i)| (ranks[i], *pos))
            .map(|(pos, _)| pos)
        else {
            break;
        };
        keep.remove(pos);
    }
    keep
}

/// A table whose columns are as wide as their widest cell (header included) and that keeps
/// the columns that fit `room`, by rank: `columns` are (header, rank) in the order shown.
pub struct FittedTable<'a> {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<Line<'a>>>,
    pub widths: Vec<u16>,
}

impl<'a> FittedTable<'a> {
    /// The table to draw: the header in `header_style`, each row in `row_style`, each column
    /// as wide as fitted.
    pub fn into_table(self, header_style: Style, row_style: Style) -> Table<'a> {
        let header = Row::new(
            self.header
                .iter()
                .map(|h| Cell::from(Span::styled(*h, header_style))),
        );
        let rows = self
            .rows
            .into_iter()
            .map(|row| Row::new(row.into_iter().map(Cell::from)).style(row_style));
        let widths: Vec<Constraint> = self.widths.iter().map(|w| Constraint::Length(*w)).collect();
        Table::new(rows, widths).header(header)
    }
}

pub fn table<'a>(
    room: usize,
    columns: &[(&'static str, u8)],
    cells: Vec<Vec<Line<'a>>>,
) -> FittedTable<'a> {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            cells
                .iter()
                .filter_map(|row| row.get(i).map(Line::width))
                .chain([str_width(h)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let ranks: Vec<u8> = columns.iter().map(|(_, r)| *r).collect();
    let keep = self::columns(room, &widths, &ranks, 1);
    let rows = cells
        .into_iter()
        .map(|row| {
            let mut row: Vec<Option<Line>> = row.into_iter().map(Some).collect();
            keep.iter()
                .map(|&i| row.get_mut(i).and_then(Option::take).unwrap_or_default())
                .collect()
        })
        .collect();
    FittedTable {
        header: keep.iter().map(|&i| columns[i].0).collect(),
        rows,
        widths: keep.iter().map(|&i| widths[i] as u16).collect(),
    }
}

/// Display width of one character.
fn char_width(c: char) -> usize {
    if c.is_ascii() {
        usize::from(!c.is_ascii_control())
    } else {
        let mut buf = [0u8; 4];
        Span::raw(&*c.encode_utf8(&mut buf)).width()
    }
}

/// `line` broken into lines of at most `max` cells at spaces, words kept whole (a word longer
/// than a line is broken where it must be), styles kept. Lines after the first start with
/// `indent` spaces.
pub fn wrap<'a>(line: &Line<'a>, max: usize, indent: usize) -> Vec<Line<'a>> {
    let max = max.max(1);
    let indent = if indent * 2 > max { 0 } else { indent };
    // Words: each a run of non-spaces with the spaces after it, as (text, style) pieces.
    type Piece = (String, ratatui::style::Style);
    let mut words: Vec<(Vec<Piece>, usize, usize)> = Vec::new(); // pieces, word width, space width
    let mut current: Vec<Piece> = Vec::new();
    let (mut w, mut sp) = (0usize, 0usize);
    for span in &line.spans {
        for c in span.content.chars() {
            if c == ' ' {
                sp += 1;
            } else if sp > 0 {
                words.push((std::mem::take(&mut current), w, sp));
                w = 0;
                sp = 0;
            }
            if c != ' ' {
                w += char_width(c);
            }
            match current.last_mut() {
                Some((text, style)) if *style == span.style => text.push(c),
                _ => current.push((c.to_string(), span.style)),
            }
        }
    }
    if !current.is_empty() {
        words.push((current, w, sp));
    }
    let mut out: Vec<Line<'a>> = Vec::new();
    let mut spans: Vec<Span<'a>> = Vec::new();
    let mut used = 0usize;
    let push_piece = |spans: &mut Vec<Span<'a>>, text: String, style| match spans.last_mut() {
        Some(last) if last.style == style => last.content.to_mut().push_str(&text),
        _ => spans.push(Span::styled(text, style)),
    };
    for (pieces, word, space) in words {
        let room = max - used;
        if used > 0 && word > room {
            // Trailing spaces are not carried over the break.
            trim_end(&mut spans);
            out.push(Line::from(std::mem::take(&mut spans)));
            spans.push(Span::raw(" ".repeat(indent)));
            used = indent;
        }
        let _ = space;
        for (text, style) in pieces {
            for c in text.chars() {
                let cw = char_width(c);
                if c != ' ' && used + cw > max && used > indent {
                    // A word longer than a whole line.
                    out.push(Line::from(std::mem::take(&mut spans)));
                    spans.push(Span::raw(" ".repeat(indent)));
                    used = indent;
                }
                if c == ' ' && used + cw > max {
                    continue;
                }
                push_piece(&mut spans, c.to_string(), style);
                used += cw;
            }
        }
    }
    trim_end(&mut spans);
    out.push(Line::from(spans));
    out
}

fn trim_end(spans: &mut Vec<Span>) {
    while let Some(last) = spans.last_mut() {
        let trimmed = last.content.trim_end_matches(' ').len();
        if trimmed == 0 {
            spans.pop();
        } else {
            last.content.to_mut().truncate(trimmed);
            break;
        }
    }
}

/// Every line wrapped at `max` (see [`wrap`]).
pub fn wrap_all<'a>(lines: &[Line<'a>], max: usize, indent: usize) -> Vec<Line<'a>> {
    lines.iter().flat_map(|l| wrap(l, max, indent)).collect()
}

/// Display width of a string.
pub fn str_width(s: &str) -> usize {
    Span::raw(s).width()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn a_line_drops_whole_parts_least_important_first() {
        let parts = || {
            vec![
                Part::one(0, Span::raw("block 12")),
                Part::one(2, Span::raw("rule keep-v2")),
                Part::one(1, Span::raw("next 900")),
            ]
        };
        let sep = Span::raw(" | ");
        assert_eq!(
            text(&line(80, parts(), sep.clone())),
            "block 12 | rule keep-v2 | next 900"
        );
        assert_eq!(text(&line(25, parts(), sep.clone())), "block 12 | next 900");
        assert_eq!(text(&line(10, parts(), sep.clone())), "block 12");
        // Rank 0 stays even when it does not fit.
        assert_eq!(text(&line(3, parts(), sep)), "block 12");
    }

    #[test]
    fn columns_drop_the_least_important_first() {
        let widths = [13, 20, 10, 6];
        let ranks = [0, 3, 1, 2];
        assert_eq!(columns(100, &widths, &ranks, 1), vec![0, 1, 2, 3]);
        // 13 + 10 + 6 + 2 spaces = 31.
        assert_eq!(columns(31, &widths, &ranks, 1), vec![0, 2, 3]);
        assert_eq!(columns(30, &widths, &ranks, 1), vec![0, 2]);
        assert_eq!(columns(5, &widths, &ranks, 1), vec![0]);
    }

    #[test]
    fn wrapping_keeps_words_whole_and_styles() {
        use ratatui::style::{Color, Style};
        let red = Style::default().fg(Color::Red);
        let line = Line::from(vec![
            Span::raw("proposed MovingFunds, not on the "),
            Span::styled("recomputed checklist", red),
            Span::raw(" [Redemption]"),
        ]);
        let lines = wrap(&line, 20, 2);
        let texts: Vec<String> = lines.iter().map(text).collect();
        assert_eq!(
            texts,
            vec![
                "proposed",
                "  MovingFunds, not",
                "  on the recomputed",
                "  checklist",
                "  [Redemption]"
            ]
        );
        assert!(texts.iter().all(|t| t.chars().count() <= 20));
        // The styled words keep their style across the break.
        assert!(lines[2]
            .spans
            .iter()
            .any(|s| s.content == "recomputed" && s.style == red));
        assert!(lines[3]
            .spans
            .iter()
            .any(|s| s.content == "checklist" && s.style == red));
        // A word longer than a line is broken, nothing is lost.
        let long = wrap(&Line::from("0x6E2D711A854bAE8F"), 8, 0);
        assert_eq!(
            long.iter().map(text).collect::<Vec<_>>(),
            vec!["0x6E2D71", "1A854bAE", "8F"]
        );
        assert_eq!(wrap(&Line::from(""), 10, 0).len(), 1);
    }

    #[test]
    fn the_first_candidate_that_fits_wins() {
        let l = first_fitting(
            8,
            vec![vec![Span::raw("0123456789")], vec![Span::raw("01234")]],
        );
        assert_eq!(text(&l), "01234");
    }
}
