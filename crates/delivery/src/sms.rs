//! SMS length rules: which encoding a text needs and how many segments (billable parts) it uses.
//!
//! An SMS carries 140 octets. Text that fits the GSM 03.38 alphabet is packed as 7-bit septets
//! (160 per message); anything else goes as UCS-2 (70 UTF-16 code units per message). A text
//! longer than one message is split into concatenated parts, each losing room to the
//! concatenation header: 153 septets or 67 code units per part. Two things may not be cut
//! across parts: a GSM extension character (an escape septet plus the character) and a UTF-16
//! surrogate pair (one emoji); when one would straddle a boundary it moves whole to the next
//! part, leaving the previous part a unit short. Balances are charged per segment, so this
//! counting is what the merchant pays for.

use serde::Serialize;

/// Septets in a single-part GSM-7 message.
pub const GSM7_SINGLE: usize = 160;
/// Septets in each part of a multipart GSM-7 message.
pub const GSM7_MULTIPART: usize = 153;
/// UTF-16 code units in a single-part UCS-2 message.
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 code units in each part of a multipart UCS-2 message.
pub const UCS2_MULTIPART: usize = 67;

/// How an SMS body is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    /// The GSM 03.38 default alphabet, 7 bits a character (extension characters take two).
    Gsm7,
    /// UTF-16 (UCS-2 on the wire), 16 bits a code unit; emoji take two code units.
    Ucs2,
}

impl SmsEncoding {
    /// Units that fit in a message that is not split.
    pub fn single_capacity(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => GSM7_SINGLE,
            SmsEncoding::Ucs2 => UCS2_SINGLE,
        }
    }

    /// Units that fit in each part of a split message.
    pub fn multipart_capacity(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => GSM7_MULTIPART,
            SmsEncoding::Ucs2 => UCS2_MULTIPART,
        }
    }
}

/// The length of an SMS body, as a counter in the composer shows it and as it is billed.
///
/// "Units" are septets for [`SmsEncoding::Gsm7`] and UTF-16 code units for
/// [`SmsEncoding::Ucs2`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmsLength {
    /// The encoding the text needs.
    pub encoding: SmsEncoding,
    /// Billable segments. An empty text has none.
    pub segments: usize,
    /// Units the text takes, extension characters and surrogate pairs counted as two.
    pub units_used: usize,
    /// Units still free in the last segment before another segment is needed (for an empty
    /// text, the room of a whole single message).
    pub units_remaining: usize,
}

/// Counts the encoding, segments and units of an SMS body.
///
/// ```
/// use loyalcast_delivery::sms::{sms_length, SmsEncoding};
///
/// let length = sms_length("Your card has 120 points");
/// assert_eq!(length.encoding, SmsEncoding::Gsm7);
/// assert_eq!(length.segments, 1);
/// assert_eq!(length.units_remaining, 160 - 24);
/// ```
pub fn sms_length(text: &str) -> SmsLength {
    let encoding = if text.chars().all(|c| gsm7_septets(c).is_some()) {
        SmsEncoding::Gsm7
    } else {
        SmsEncoding::Ucs2
    };
    let unit_cost = |c: char| match encoding {
        // Every character is in the alphabet, checked just above.
        SmsEncoding::Gsm7 => gsm7_septets(c).unwrap_or(1),
        SmsEncoding::Ucs2 => c.len_utf16(),
    };

    let units_used: usize = text.chars().map(unit_cost).sum();
    let single = encoding.single_capacity();
    if units_used == 0 {
        return SmsLength {
            encoding,
            segments: 0,
            units_used,
            units_remaining: single,
        };
    }
    if units_used <= single {
        return SmsLength {
            encoding,
            segments: 1,
            units_used,
            units_remaining: single - units_used,
        };
    }

    // Multipart: fill parts one character at a time so that no character is cut in two.
    let capacity = encoding.multipart_capacity();
    let mut segments = 1;
    let mut in_segment = 0;
    for cost in text.chars().map(unit_cost) {
        if in_segment + cost > capacity {
            segments += 1;
            in_segment = 0;
        }
        in_segment += cost;
    }
    SmsLength {
        encoding,
        segments,
        units_used,
        units_remaining: capacity - in_segment,
    }
}

/// Septets a character takes in the GSM 03.38 alphabet: 1 for the basic set, 2 for the
/// extension table (escape + character), `None` when the character is not representable.
pub fn gsm7_septets(c: char) -> Option<usize> {
    if is_gsm7_basic(c) {
        Some(1)
    } else if is_gsm7_extension(c) {
        Some(2)
    } else {
        None
    }
}

fn is_gsm7_basic(c: char) -> bool {
    matches!(c,
        'A'..='Z' | 'a'..='z' | '0'..='9'
        | '@' | '£' | '$' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | '\n' | 'Ø' | 'ø' | '\r'
        | 'Å' | 'å' | 'Δ' | '_' | 'Φ' | 'Γ' | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ'
        | 'Æ' | 'æ' | 'ß' | 'É' | ' ' | '!' | '"' | '#' | '¤' | '%' | '&' | '\'' | '('
        | ')' | '*' | '+' | ',' | '-' | '.' | '/' | ':' | ';' | '<' | '=' | '>' | '?'
        | '¡' | 'Ä' | 'Ö' | 'Ñ' | 'Ü' | '§' | '¿' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à')
}

fn is_gsm7_extension(c: char) -> bool {
    // Form feed is in the extension table too; phones render it as a page break.
    matches!(
        c,
        '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' | '\u{0C}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn length(text: &str) -> (SmsEncoding, usize, usize, usize) {
        let l = sms_length(text);
        (l.encoding, l.segments, l.units_used, l.units_remaining)
    }

    #[test]
    fn an_empty_text_has_no_segment_and_a_whole_message_of_room() {
        assert_eq!(length(""), (SmsEncoding::Gsm7, 0, 0, 160));
    }

    #[test]
    fn plain_ascii_is_gsm7_and_fits_160_in_one_segment() {
        assert_eq!(length(&"a".repeat(160)), (SmsEncoding::Gsm7, 1, 160, 0));
        assert_eq!(length(&"a".repeat(159)), (SmsEncoding::Gsm7, 1, 159, 1));
    }

    #[test]
    fn one_septet_over_160_splits_into_two_parts_of_153() {
        assert_eq!(
            length(&"a".repeat(161)),
            (SmsEncoding::Gsm7, 2, 161, 153 - 8)
        );
        assert_eq!(length(&"a".repeat(306)), (SmsEncoding::Gsm7, 2, 306, 0));
        assert_eq!(length(&"a".repeat(307)), (SmsEncoding::Gsm7, 3, 307, 152));
    }

    #[test]
    fn the_accented_letters_of_the_gsm_alphabet_stay_gsm7() {
        let text = "Ça coûte £5 à Åsa, señor ¿ok? Δ§ü";
        // 'û' is not in the alphabet: the whole text becomes UCS-2.
        assert_eq!(sms_length(text).encoding, SmsEncoding::Ucs2);
        let gsm = "Ça coute £5 à Åsa, señor ¿ok? Δ§ü";
        assert_eq!(sms_length(gsm).encoding, SmsEncoding::Gsm7);
        assert_eq!(sms_length(gsm).units_used, gsm.chars().count());
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        assert_eq!(length("€"), (SmsEncoding::Gsm7, 1, 2, 158));
        assert_eq!(length("^{}\\[~]|€"), (SmsEncoding::Gsm7, 1, 18, 142));
        // 80 euro signs are 160 septets: still one message.
        assert_eq!(length(&"€".repeat(80)), (SmsEncoding::Gsm7, 1, 160, 0));
        assert_eq!(sms_length(&"€".repeat(81)).segments, 2);
    }

    #[test]
    fn an_extension_character_is_not_split_across_parts() {
        // 152 plain septets leave one septet in the first part: the euro sign moves on.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let l = sms_length(&text);
        assert_eq!(l.units_used, 164);
        assert_eq!(l.segments, 2);
        assert_eq!(l.units_remaining, 153 - 12);

        // The same total with the escape landing exactly on the boundary uses the part fully.
        let text = format!("{}€{}", "a".repeat(151), "b".repeat(10));
        assert_eq!(sms_length(&text).units_remaining, 153 - 10);
    }

    #[test]
    fn a_character_outside_the_alphabet_switches_the_whole_text_to_ucs2() {
        assert_eq!(length("Привет"), (SmsEncoding::Ucs2, 1, 6, 64));
        assert_eq!(length(&"я".repeat(70)), (SmsEncoding::Ucs2, 1, 70, 0));
        assert_eq!(length(&"я".repeat(71)), (SmsEncoding::Ucs2, 2, 71, 67 - 4));
        assert_eq!(length(&"я".repeat(134)), (SmsEncoding::Ucs2, 2, 134, 0));
    }

    #[test]
    fn in_ucs2_gsm_extension_characters_cost_one_unit() {
        assert_eq!(length("€я"), (SmsEncoding::Ucs2, 1, 2, 68));
    }

    #[test]
    fn an_emoji_counts_two_utf16_units() {
        assert_eq!(length("🎉"), (SmsEncoding::Ucs2, 1, 2, 68));
        assert_eq!(length(&"🎉".repeat(35)), (SmsEncoding::Ucs2, 1, 70, 0));
        assert_eq!(sms_length(&"🎉".repeat(36)).segments, 2);
    }

    #[test]
    fn a_surrogate_pair_is_not_split_across_parts() {
        // 66 units then an emoji: the pair cannot start at unit 67 of a 67-unit part.
        let text = format!("{}🎉{}", "я".repeat(66), "я".repeat(5));
        let l = sms_length(&text);
        assert_eq!(l.units_used, 73);
        assert_eq!(l.segments, 2);
        assert_eq!(l.units_remaining, 67 - 7);

        // 33 emoji fill 66 units of each part; the 34th must go to the next part.
        let l = sms_length(&"🎉".repeat(67));
        assert_eq!(l.units_used, 134);
        assert_eq!(l.segments, 3);
        assert_eq!(l.units_remaining, 67 - 2);
    }

    /// An independent reference: encode to the actual units on the wire (escape septets and
    /// surrogates included), then lay them into parts, padding a part whose last free unit
    /// would hold the first half of a pair.
    fn reference(text: &str) -> (SmsEncoding, usize, usize) {
        const ESC: u16 = 0x1B;
        let gsm = text.chars().all(|c| gsm7_septets(c).is_some());
        let units: Vec<u16> = if gsm {
            text.chars()
                .flat_map(|c| {
                    if gsm7_septets(c) == Some(2) {
                        vec![ESC, 1]
                    } else {
                        vec![0]
                    }
                })
                .collect()
        } else {
            text.encode_utf16().collect()
        };
        let (single, part) = if gsm { (160, 153) } else { (70, 67) };
        let encoding = if gsm {
            SmsEncoding::Gsm7
        } else {
            SmsEncoding::Ucs2
        };
        if units.is_empty() {
            return (encoding, 0, units.len());
        }
        if units.len() <= single {
            return (encoding, 1, units.len());
        }
        let starts_pair = |u: u16| {
            if gsm {
                u == ESC
            } else {
                (0xD800..0xDC00).contains(&u)
            }
        };
        let mut parts = vec![Vec::new()];
        for (i, &unit) in units.iter().enumerate() {
            let current = parts.last().map_or(0, Vec::len);
            let needs_two = starts_pair(unit) && i + 1 < units.len();
            if current == part || (needs_two && current == part - 1) {
                parts.push(Vec::new());
            }
            if let Some(last) = parts.last_mut() {
                last.push(unit);
            }
        }
        (encoding, parts.len(), units.len())
    }

    #[test]
    fn segment_counts_agree_with_an_independent_reference_on_random_texts() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};

        let palettes: [&[char]; 3] = [
            &['a', 'Z', ' ', '0', '€', '{', '^', 'é', '\n'],
            &['a', '€', 'я', '🎉', ' '],
            &['🎉', '😀', 'a'],
        ];
        let mut rng = StdRng::seed_from_u64(2026);
        for _ in 0..3_000 {
            let palette = palettes[rng.gen_range(0..palettes.len())];
            let len = rng.gen_range(0..400);
            let text: String = (0..len)
                .map(|_| palette[rng.gen_range(0..palette.len())])
                .collect();
            let got = sms_length(&text);
            assert_eq!(
                (got.encoding, got.segments, got.units_used),
                reference(&text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn form_feed_is_an_extension_character_and_tab_is_not_gsm() {
        assert_eq!(length("\u{0C}"), (SmsEncoding::Gsm7, 1, 2, 158));
        assert_eq!(sms_length("a\tb").encoding, SmsEncoding::Ucs2);
    }
}
