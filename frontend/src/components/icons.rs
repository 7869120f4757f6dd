//! Inline SVG icons: drawn here, nothing downloaded. 24x24 strokes in `currentColor`, so an
//! icon takes the colour of its text. Decorative unless given a label.

use leptos::prelude::*;
use loyalcast_dto::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconKind {
    Mailings,
    Customers,
    Segments,
    Cards,
    Settings,
    Inbox,
    History,
    Push,
    Automation,
    AutoPush,
    Search,
    ChevronLeft,
    ChevronRight,
    ArrowUp,
    ArrowDown,
    Sort,
    Close,
    Plus,
    Trash,
    Edit,
    Copy,
    Alert,
    Check,
    SignOut,
    Sms,
    Email,
    Telegram,
    Messenger,
    Wallet,
    Key,
    Logo,
}

impl IconKind {
    fn paths(self) -> &'static [&'static str] {
        match self {
            IconKind::Mailings => &["M22 2 11 13", "M22 2 15 22l-4-9-9-4 20-7z"],
            IconKind::Customers => &[
                "M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2",
                "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z",
                "M23 21v-2a4 4 0 0 0-3-3.87",
                "M16 3.13a4 4 0 0 1 0 7.75",
            ],
            IconKind::Segments => &["M22 3H2l8 9.46V19l4 2v-8.54L22 3z"],
            IconKind::Cards | IconKind::Wallet => &[
                "M3 5h18a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z",
                "M1 10h22",
            ],
            IconKind::Settings => &[
                "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
                "M19.4 15a1.65 1.65 0 0 0 .33 1.82l.06.06a2 2 0 1 1-2.83 2.83l-.06-.06a1.65 1.65 0 0 0-1.82-.33 1.65 1.65 0 0 0-1 1.51V21a2 2 0 1 1-4 0v-.09A1.65 1.65 0 0 0 9 19.4a1.65 1.65 0 0 0-1.82.33l-.06.06a2 2 0 1 1-2.83-2.83l.06-.06A1.65 1.65 0 0 0 4.68 15a1.65 1.65 0 0 0-1.51-1H3a2 2 0 1 1 0-4h.09A1.65 1.65 0 0 0 4.6 9a1.65 1.65 0 0 0-.33-1.82l-.06-.06a2 2 0 1 1 2.83-2.83l.06.06A1.65 1.65 0 0 0 9 4.68a1.65 1.65 0 0 0 1-1.51V3a2 2 0 1 1 4 0v.09a1.65 1.65 0 0 0 1 1.51 1.65 1.65 0 0 0 1.82-.33l.06-.06a2 2 0 1 1 2.83 2.83l-.06.06A1.65 1.65 0 0 0 19.4 9a1.65 1.65 0 0 0 1.51 1H21a2 2 0 1 1 0 4h-.09a1.65 1.65 0 0 0-1.51 1z",
            ],
            IconKind::Inbox => &[
                "M22 12h-6l-2 3h-4l-2-3H2",
                "M5.45 5.11 2 12v6a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2v-6l-3.45-6.89A2 2 0 0 0 16.76 4H7.24a2 2 0 0 0-1.79 1.11z",
            ],
            IconKind::History => &["M3 3v5h5", "M3.05 13A9 9 0 1 0 6 5.3L3 8", "M12 7v5l4 2"],
            IconKind::Push => &[
                "M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9",
                "M13.73 21a2 2 0 0 1-3.46 0",
            ],
            IconKind::Automation => &["M13 2 3 14h9l-1 8 10-12h-9l1-8z"],
            IconKind::AutoPush => &["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M12 6v6l4 2"],
            IconKind::Search => &["M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16z", "m21 21-4.35-4.35"],
            IconKind::ChevronLeft => &["m15 18-6-6 6-6"],
            IconKind::ChevronRight => &["m9 18 6-6-6-6"],
            IconKind::ArrowUp => &["M12 19V5", "m5 12 7-7 7 7"],
            IconKind::ArrowDown => &["M12 5v14", "m19 12-7 7-7-7"],
            IconKind::Sort => &["m7 15 5 5 5-5", "m7 9 5-5 5 5"],
            IconKind::Close => &["M18 6 6 18", "m6 6 12 12"],
            IconKind::Plus => &["M12 5v14", "M5 12h14"],
            IconKind::Trash => &[
                "M3 6h18",
                "M19 6v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V6m3 0V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2",
            ],
            IconKind::Edit => &[
                "M12 20h9",
                "M16.5 3.5a2.12 2.12 0 0 1 3 3L7 19l-4 1 1-4L16.5 3.5z",
            ],
            IconKind::Copy => &[
                "M20 9h-9a2 2 0 0 0-2 2v9a2 2 0 0 0 2 2h9a2 2 0 0 0 2-2v-9a2 2 0 0 0-2-2z",
                "M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1",
            ],
            IconKind::Alert => &[
                "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z",
                "M12 8v4",
                "M12 16h.01",
            ],
            IconKind::Check => &["M20 6 9 17l-5-5"],
            IconKind::SignOut => &[
                "M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4",
                "m16 17 5-5-5-5",
                "M21 12H9",
            ],
            IconKind::Sms => &[
                "M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z",
                "M8 10h.01",
                "M12 10h.01",
                "M16 10h.01",
            ],
            IconKind::Email => &[
                "M4 4h16a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
                "m22 6-10 7L2 6",
            ],
            IconKind::Telegram => &["m22 3-20 8 7 2.5L19 6l-8 8.5V21l3.5-4.5L19 20z"],
            IconKind::Messenger => &[
                "M12 2C6.48 2 2 6.14 2 11.25c0 2.91 1.45 5.5 3.72 7.2V22l3.4-1.87c.91.25 1.87.38 2.88.38 5.52 0 10-4.14 10-9.26S17.52 2 12 2z",
                "m6.5 14 4-4.25 2 2.25 4-4.25-4 4.25-2-2.25",
            ],
            IconKind::Key => &[
                "M21 2l-2 2m-7.61 7.61a5.5 5.5 0 1 1-7.78 7.78 5.5 5.5 0 0 1 7.78-7.78zm0 0L15.5 7.5m0 0 3 3L22 7l-3-3m-3.5 3.5L19 4",
            ],
            IconKind::Logo => &[
                "M4 6a2 2 0 0 1 2-2h12a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-5l-4 3v-3H6a2 2 0 0 1-2-2z",
                "m9 10.5 2 2 4-4",
            ],
        }
    }
}

/// An icon. Decorative (hidden from screen readers) unless `label` is set.
#[component]
pub fn Icon(
    kind: IconKind,
    #[prop(optional, into)] label: Option<String>,
    #[prop(default = 18)] size: u32,
) -> impl IntoView {
    let hidden = label.is_none().then_some("true");
    let role = label.is_some().then_some("img");
    view! {
        <svg
            class="icon"
            width=size
            height=size
            viewBox="0 0 24 24"
            fill="none"
            stroke="currentColor"
            stroke-width="2"
            stroke-linecap="round"
            stroke-linejoin="round"
            aria-hidden=hidden
            role=role
            aria-label=label
        >
            {kind.paths().iter().map(|d| view! { <path d=*d></path> }).collect_view()}
        </svg>
    }
}

pub fn channel_icon_kind(channel: Channel) -> IconKind {
    match channel {
        Channel::Sms => IconKind::Sms,
        Channel::Email => IconKind::Email,
        Channel::Telegram => IconKind::Telegram,
        Channel::Messenger => IconKind::Messenger,
    }
}

/// A channel's icon in the channel's colour, with its name for screen readers and on hover.
#[component]
pub fn ChannelIcon(channel: Channel, #[prop(optional)] with_label: bool) -> impl IntoView {
    let class = format!("channel channel-{}", channel.as_str());
    view! {
        <span class=class title=channel.label()>
            <Icon kind=channel_icon_kind(channel) label=channel.label() size=16/>
            {with_label.then(|| view! { <span class="channel-label">{channel.label()}</span> })}
        </span>
    }
}
