//! The shapes of text the API accepts, written once as the patterns the OpenAPI document
//! declares. The server's validation (in `loyalcast-domain` and the routes) is tested
//! against these patterns character by character, so document and server cannot drift.
//!
//! Patterns are ECMA-262 and Python `re` alike: explicit character ranges only (no `\s`,
//! `\w` or `\p{..}`, which the two read differently), anchored with `^` and `$`.
//! "Whitespace" is Unicode White_Space, what Rust's `str::trim` removes; "control
//! characters" are U+0000-U+001F and U+007F-U+009F.

/// A required single-line text: no control characters (so no tabs or line breaks) and at
/// least one character that is not whitespace. Surrounding whitespace is accepted and
/// removed; the length limit counts the text as sent.
pub const REQUIRED_LINE: &str = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$";

/// A single-line text that may be empty or blank: no control characters.
pub const LINE: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// A message template: at least one character that is not whitespace; `{` and `}` only as
/// `{{`, `}}` (literal braces) or around a known variable. Line breaks are allowed.
pub const TEMPLATE: &str = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^{}\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name|unsubscribe_url)\})(?:[^{}]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name|unsubscribe_url)\})*$";

/// A wallet message template (an automation's): one line with at least one character that is
/// not whitespace, no control characters; `{` and `}` only as `{{`, `}}` or around a known
/// variable other than `unsubscribe_url` (a wallet message has no unsubscribe link).
pub const PUSH_TEMPLATE: &str = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^{}\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name)\})(?:[^{}\x00-\x1f\x7f-\x9f]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name)\})*$";

/// A time of day, `HH:MM` from `00:00` to `23:59`.
pub const TIME_OF_DAY: &str = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$";

/// The variables a template may hold, as written between braces.
pub const TEMPLATE_VARIABLES: [&str; 7] = [
    "first_name",
    "last_name",
    "card_name",
    "points",
    "visits",
    "merchant_name",
    "unsubscribe_url",
];

/// A colour as `#rrggbb` (either case).
pub const COLOUR: &str = r"^#[0-9A-Fa-f]{6}$";

/// An Apple pass type identifier: `pass.` and then letters, digits, `.`, `-` or `_`.
pub const PASS_TYPE_ID: &str = r"^pass\.[0-9A-Za-z._-]+$";

/// A pass serial number: 1 to 64 letters, digits, `.`, `-` or `_`.
pub const SERIAL_NUMBER: &str = r"^[0-9A-Za-z._-]{1,64}$";

/// A Telegram chat id: up to 20 digits, negative for groups.
pub const TELEGRAM_CHAT_ID: &str = r"^-?[0-9]{1,20}$";

/// A Messenger page-scoped id: 1 to 32 digits.
pub const MESSENGER_PSID: &str = r"^[0-9]{1,32}$";

/// A list of channels, separated by commas (the import's `consent` declaration).
pub const CHANNEL_LIST: &str =
    r"^(sms|email|telegram|messenger)(,(sms|email|telegram|messenger))*$";

/// An `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub const IDEMPOTENCY_KEY: &str = r"^[!-~]{1,255}$";

/// A change-stream ticket: `st_` and 256 random bits in base64url.
/// An integration's own ID for a customer event: 1 to 128 printable ASCII characters, no
/// spaces.
pub const EVENT_ID: &str = r"^[!-~]{1,128}$";

pub const STREAM_TICKET: &str = r"^st_[A-Za-z0-9_-]{43}$";

/// The most characters in a tag.
pub const TAG_MAX_CHARS: usize = 40;

/// Whether a tag may hold this character besides `-`, `_` and space: a letter or digit of
/// any script in the Basic Multilingual Plane. (Letters beyond it are left out because a
/// JSON Schema pattern cannot name them the same way in every regex dialect.)
pub fn is_tag_letter(c: char) -> bool {
    let letter = |c: char| c.is_alphanumeric() && u32::from(c) <= 0xFFFF;
    // Tags are kept lower-cased, and what is kept must be a tag too: `İ` lower-cases to `i`
    // and a combining dot, which is not a letter, so it is left out.
    letter(c) && c.to_lowercase().all(letter)
}

/// The pattern of a tag: letters and digits (see [`is_tag_letter`]), `-`, `_` and spaces,
/// with at least one character that is not a space. The letter class is spelled out range
/// by range from [`is_tag_letter`] itself, so it is exactly what the server accepts.
pub fn tag_pattern() -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for c in (0..=0xFFFFu32)
        .filter_map(char::from_u32)
        .filter(|c| is_tag_letter(*c))
    {
        let code = u32::from(c);
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == code => *end = code,
            _ => ranges.push((code, code)),
        }
    }
    let letters: String = ranges
        .iter()
        .map(|&(start, end)| match end - start {
            0 => format!("\\u{start:04x}"),
            1 => format!("\\u{start:04x}\\u{end:04x}"),
            _ => format!("\\u{start:04x}-\\u{end:04x}"),
        })
        .collect();
    format!("^ *[{letters}_-][{letters}_ -]*$")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tag_letter_lower_cases_to_one_tag_letter() {
        // Stored tags are lower-cased: they must still match the pattern and keep their length.
        for c in (0u32..=0xFFFF)
            .filter_map(char::from_u32)
            .filter(|c| super::is_tag_letter(*c))
        {
            let lower: Vec<char> = c.to_lowercase().collect();
            assert_eq!(lower.len(), 1, "{c:?}");
            assert!(super::is_tag_letter(lower[0]), "{c:?} -> {:?}", lower[0]);
        }
        assert!(!super::is_tag_letter('İ'));
        assert!(super::is_tag_letter('ß') && super::is_tag_letter('Ж'));
    }
}
