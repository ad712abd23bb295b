//! `?layout=NAME`: a TV that follows a layout saved on the server. The
//! board carries the saved layouts; whenever the named one changes, the
//! screen follows at once (no reload). What the layout leaves out, the
//! link decides (then the defaults); a layout the board does not have
//! (or no longer has) leaves the link's own settings, with a notice.

use std::time::Duration;

use leptos::prelude::*;
use wallboard_protocol::{KpiKey, Layout, REGISTRY, Window};

use crate::Params;
use crate::connection::Live;
use crate::i18n::Lang;
use crate::views::{Page, Settings};

/// The screen's palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// The floor's own: dark, for a TV on a wall.
    #[default]
    Dark,
    /// Dark text on light panels, for a bright room.
    Light,
}

impl Theme {
    pub fn parse(name: &str) -> Option<Theme> {
        match name.trim() {
            "dark" => Some(Theme::Dark),
            "light" => Some(Theme::Light),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Light => "light",
        }
    }

    /// The class that carries the palette (on the root, or a preview).
    pub fn class(self) -> &'static str {
        match self {
            Theme::Dark => "theme-dark",
            Theme::Light => "theme-light",
        }
    }
}

/// What the link itself says, with the defaults where it says nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub pages: Vec<Page>,
    pub rotate: Option<Duration>,
    pub window: Window,
    pub lang: Option<Lang>,
    pub theme: Theme,
}

impl Link {
    pub fn of(params: &Params) -> Link {
        Link {
            pages: params.pages.clone(),
            rotate: params.rotate,
            window: params.window,
            lang: params.lang,
            theme: params.theme.unwrap_or_default(),
        }
    }

    /// A link that says nothing: every default.
    pub fn defaults() -> Link {
        Link {
            pages: Page::DEFAULT.to_vec(),
            rotate: None,
            window: Window::Today,
            lang: None,
            theme: Theme::Dark,
        }
    }
}

/// What the screen shows: the layout over the link.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    /// The pages the kiosk turns through, in order.
    pub pages: Vec<Page>,
    /// Seconds per page (`None`: the kiosk's own pace).
    pub rotate: Option<Duration>,
    /// The KPI tiles, in order.
    pub tiles: Vec<KpiKey>,
    /// The queues of the queue table (`None`: every queue).
    pub queues: Option<Vec<String>>,
    pub window: Window,
    /// `None`: the viewer's (or the browser's) language.
    pub lang: Option<Lang>,
    pub theme: Theme,
}

/// The floor's tiles when nothing says otherwise: the registry's.
pub fn default_tiles() -> Vec<KpiKey> {
    REGISTRY
        .iter()
        .filter(|spec| spec.tile)
        .map(|spec| spec.key)
        .collect()
}

/// `items` without repeats, in their first order.
fn once_each<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The layout (if any) over the link: each field the layout sets wins;
/// names the screen does not know are left out.
pub fn resolve(link: &Link, layout: Option<&Layout>) -> Effective {
    let mut out = Effective {
        pages: link.pages.clone(),
        rotate: link.rotate,
        tiles: default_tiles(),
        queues: None,
        window: link.window,
        lang: link.lang,
        theme: link.theme,
    };
    let Some(layout) = layout else {
        return out;
    };
    let pages = once_each(layout.pages.iter().filter_map(|p| Page::parse(p)));
    if !pages.is_empty() {
        out.pages = pages;
    }
    let tiles = once_each(layout.tiles.iter().filter_map(|t| KpiKey::parse(t)));
    if !tiles.is_empty() {
        out.tiles = tiles;
    }
    out.queues = layout.queues.clone().map(once_each);
    if let Some(seconds) = layout.rotate_seconds.filter(|s| *s >= 3) {
        out.rotate = Some(Duration::from_secs(u64::from(seconds)));
    }
    if let Some(window) = layout.window {
        out.window = window;
    }
    if let Some(lang) = layout.lang.as_deref().and_then(Lang::parse) {
        out.lang = Some(lang);
    }
    if let Some(theme) = layout.theme.as_deref().and_then(Theme::parse) {
        out.theme = theme;
    }
    out
}

/// The layout a screen follows, live from the board.
#[derive(Clone, Copy)]
pub struct Follow {
    /// The layout's name (`?layout=`), if the link names one.
    pub name: StoredValue<Option<String>>,
    /// What the screen shows now.
    pub effective: Memo<Effective>,
    /// Named, and the board (once in) does not have it.
    pub missing: Memo<bool>,
}

impl Follow {
    pub fn new(live: Live, params: &Params) -> Follow {
        let link = Link::of(params);
        let name = params.layout.clone();
        // `None`: no layout named, or no board yet; `Some(None)`: the
        // board has no such layout.
        let wanted = name.clone();
        let layout = Memo::new(move |_| {
            let name = wanted.as_ref()?;
            live.board
                .with(|b| b.as_ref().map(|b| b.layouts.get(name).cloned()))
        });
        Follow {
            name: StoredValue::new(name),
            effective: Memo::new(move |_| {
                layout.with(|l| resolve(&link, l.as_ref().and_then(Option::as_ref)))
            }),
            missing: Memo::new(move |_| layout.with(|l| matches!(l, Some(None)))),
        }
    }

    /// Keeps the viewer's settings and the page's palette in step with
    /// the layout: each time the layout changes a value, the screen takes
    /// it (a viewer's own choice since then stands until the next change).
    pub fn apply(self, settings: Settings) {
        let window = Memo::new(move |_| self.effective.with(|e| e.window));
        Effect::new(move |_| {
            let window = window.get();
            if settings.window.get_untracked() != window {
                settings.window.set(window);
            }
        });
        let lang = Memo::new(move |_| self.effective.with(|e| e.lang));
        Effect::new(move |_| {
            if let Some(lang) = lang.get()
                && settings.lang.get_untracked() != lang
            {
                settings.lang.set(lang);
            }
        });
        let theme = self.theme();
        Effect::new(move |_| {
            let light = theme.get() == Theme::Light;
            if let Some(root) = document().document_element() {
                let _ = root.class_list().toggle_with_force("theme-light", light);
            }
        });
    }

    /// The palette now.
    pub fn theme(self) -> Memo<Theme> {
        Memo::new(move |_| self.effective.with(|e| e.theme))
    }
}

/// Says so when the link's layout is not on the server.
#[component]
pub fn LayoutMissing(follow: Follow, settings: Settings) -> impl IntoView {
    move || {
        follow.missing.get().then(|| {
            let name = follow.name.get_value().unwrap_or_default();
            let attribute = name.clone();
            view! {
                <p class="layout-missing" role="status" data-layout=attribute>
                    <span aria-hidden="true">"⚠ "</span>
                    {move || settings.lang.get().layout_missing(&name)}
                </p>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        Link {
            pages: vec![Page::Overview, Page::Queues, Page::Agents],
            rotate: Some(Duration::from_secs(20)),
            window: Window::Min60,
            lang: Some(Lang::En),
            theme: Theme::Dark,
        }
    }

    #[test]
    fn without_a_layout_the_link_decides() {
        let e = resolve(&link(), None);
        assert_eq!(e.pages, link().pages);
        assert_eq!(e.rotate, Some(Duration::from_secs(20)));
        assert_eq!(e.tiles, default_tiles());
        assert_eq!(e.queues, None);
        assert_eq!(
            (e.window, e.lang, e.theme),
            (Window::Min60, Some(Lang::En), Theme::Dark)
        );
        assert!(
            !default_tiles().contains(&KpiKey::AhtSeconds),
            "not a tile by default"
        );
    }

    #[test]
    fn a_layout_wins_field_by_field_over_the_link() {
        let layout: Layout = serde_json::from_str(
            r#"{"pages":["agents","overview","agents"],"tiles":["asa_seconds","service_level","nope"],
                "queues":["vip"],"rotate_seconds":10,"window":"15m","lang":"zh","theme":"light"}"#,
        )
        .unwrap();
        let e = resolve(&link(), Some(&layout));
        assert_eq!(
            e.pages,
            [Page::Agents, Page::Overview],
            "in order, once each"
        );
        assert_eq!(e.tiles, [KpiKey::AsaSeconds, KpiKey::ServiceLevel]);
        assert_eq!(e.queues, Some(vec!["vip".to_string()]));
        assert_eq!(e.rotate, Some(Duration::from_secs(10)));
        assert_eq!(
            (e.window, e.lang, e.theme),
            (Window::Min15, Some(Lang::Zh), Theme::Light)
        );
        // What a layout leaves out stays the link's.
        let partial = Layout {
            theme: Some("light".into()),
            ..Layout::default()
        };
        let e = resolve(&link(), Some(&partial));
        assert_eq!(e.pages, link().pages);
        assert_eq!(e.tiles, default_tiles());
        assert_eq!(e.rotate, Some(Duration::from_secs(20)));
        assert_eq!(
            (e.window, e.lang, e.theme),
            (Window::Min60, Some(Lang::En), Theme::Light)
        );
        // An empty queue list is a list: no queue.
        let none = Layout {
            queues: Some(Vec::new()),
            ..Layout::default()
        };
        assert_eq!(resolve(&link(), Some(&none)).queues, Some(Vec::new()));
    }
}
