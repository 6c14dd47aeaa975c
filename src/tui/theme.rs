//! Colours and emphasis. Dark (default) and light themes, and a monochrome one for `NO_COLOR`
//! that keeps meaning through bold, dim and reversed text instead of colour.

use ratatui::style::{Color, Modifier, Style};

use serde::Deserialize;

/// Console colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ThemeName {
    Dark,
    Light,
}

impl std::str::FromStr for ThemeName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dark" => Ok(ThemeName::Dark),
            "light" => Ok(ThemeName::Light),
            other => Err(format!("unknown theme {other:?}: expected dark or light")),
        }
    }
}

impl TryFrom<String> for ThemeName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Whether the environment asks for no colour (<https://no-color.org>): `NO_COLOR` set to
/// anything but the empty string.
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Grey text that reads on a light background (xterm 241, #626262).
const SECONDARY_ON_LIGHT: Color = Color::Indexed(241);
/// Lines between panes on a light background (xterm 245, #8a8a8a).
const BORDER_ON_LIGHT: Color = Color::Indexed(245);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: &'static str,
    pub base: Style,
    pub dim: Style,
    pub title: Style,
    pub accent: Style,
    pub ok: Style,
    pub warning: Style,
    pub critical: Style,
    pub selected: Style,
    pub border: Style,
    pub tab_active: Style,
    /// Marks this node (the leader is "you").
    pub own: Style,
}

impl Theme {
    pub fn dark() -> Theme {
        Theme {
            name: "dark",
            base: Style::default().fg(Color::Gray),
            dim: Style::default().fg(Color::DarkGray),
            title: Style::default()
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            accent: Style::default().fg(Color::Cyan),
            ok: Style::default().fg(Color::Green),
            warning: Style::default().fg(Color::Yellow),
            critical: Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            selected: Style::default().bg(Color::DarkGray).fg(Color::White),
            border: Style::default().fg(Color::DarkGray),
            tab_active: Style::default()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            own: Style::default()
                .fg(Color::Magenta)
                .add_modifier(Modifier::BOLD),
        }
    }

    pub fn light() -> Theme {
        Theme {
            name: "light",
            base: Style::default().fg(Color::Black),
            // Secondary text: a dark grey of the 256-colour palette. Palette colour 7
            // (`Gray`) is a light grey, unreadable on a light background.
            dim: Style::default().fg(SECONDARY_ON_LIGHT),
            title: Style::default()
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            accent: Style::default().fg(Color::Blue),
            ok: Style::default().fg(Color::Green),
            warning: Style::default().fg(Color::Rgb(176, 112, 0)),
            critical: Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            selected: Style::default()
                .bg(Color::Rgb(210, 220, 240))
                .fg(Color::Black),
            border: Style::default().fg(BORDER_ON_LIGHT),
            tab_active: Style::default()
                .fg(Color::White)
                .bg(Color::Blue)
                .add_modifier(Modifier::BOLD),
            own: Style::default()
                .fg(Color::Magenta)
                .add_modifier(Modifier::BOLD),
        }
    }

    /// No colour at all (`NO_COLOR`): emphasis only.
    pub fn monochrome() -> Theme {
        let plain = Style::default();
        Theme {
            name: "no-color",
            base: plain,
            dim: plain.add_modifier(Modifier::DIM),
            title: plain.add_modifier(Modifier::BOLD),
            accent: plain.add_modifier(Modifier::BOLD),
            ok: plain,
            warning: plain.add_modifier(Modifier::BOLD),
            critical: plain.add_modifier(Modifier::BOLD | Modifier::REVERSED),
            selected: plain.add_modifier(Modifier::REVERSED),
            border: plain,
            tab_active: plain.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            own: plain.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        }
    }

    /// The theme to use: `NO_COLOR` (any non-empty value) wins over the name.
    pub fn select(name: ThemeName, no_color: bool) -> Theme {
        if no_color {
            return Theme::monochrome();
        }
        match name {
            ThemeName::Dark => Theme::dark(),
            ThemeName::Light => Theme::light(),
        }
    }

    /// Whether the environment asks for no colour (<https://no-color.org>).
    pub fn no_color_requested() -> bool {
        no_color_requested()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_wins_and_uses_no_colours() {
        let t = Theme::select(ThemeName::Light, true);
        assert_eq!(t.name, "no-color");
        for style in [
            t.base,
            t.dim,
            t.title,
            t.accent,
            t.ok,
            t.warning,
            t.critical,
            t.selected,
            t.border,
            t.tab_active,
            t.own,
        ] {
            assert_eq!(style.fg, None);
            assert_eq!(style.bg, None);
        }
        assert_eq!(Theme::select(ThemeName::Light, false).name, "light");
        assert!("blue".parse::<ThemeName>().is_err());
    }

    #[test]
    fn the_light_theme_draws_no_text_in_light_grey_or_white() {
        let t = Theme::light();
        // The light greys of the 16-colour palette (7, 15) and of the 256-colour ramp.
        let light = |c: Option<Color>| match c {
            Some(Color::Gray | Color::White) => true,
            Some(Color::Indexed(i)) => i == 7 || i == 15 || i >= 248,
            Some(Color::Rgb(r, g, b)) => r.min(g).min(b) > 170,
            _ => false,
        };
        for (name, style) in [
            ("base", t.base),
            ("dim", t.dim),
            ("title", t.title),
            ("accent", t.accent),
            ("ok", t.ok),
            ("warning", t.warning),
            ("critical", t.critical),
            ("border", t.border),
            ("own", t.own),
        ] {
            // These are drawn on the terminal's own (light) background.
            assert_eq!(style.bg, None, "{name}");
            assert!(!light(style.fg), "{name}: {:?}", style.fg);
        }
    }
}
