//! Opt-out and opt-in keywords in inbound SMS.
//!
//! Carriers and Twilio treat a reply that is exactly one of the STOP-family words as an
//! opt-out, and START/UNSTOP as opting back in. Only the whole message counts, ignoring case
//! and surrounding whitespace: "Please stop by the shop" is a conversation, not an opt-out.

use serde::Serialize;

/// What an inbound SMS asks for, when it is a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsKeyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT: suppress SMS for this customer at once.
    OptOut,
    /// START, UNSTOP: lift the suppression.
    OptIn,
    /// HELP, INFO: the customer asks who is writing and how to stop; answer with the
    /// merchant's help text.
    Help,
}

const OPT_OUT: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
const OPT_IN: [&str; 2] = ["START", "UNSTOP"];
const HELP: [&str; 2] = ["HELP", "INFO"];

/// The keyword an inbound SMS body is, if it is one.
///
/// ```
/// use loyalcast_delivery::opt_out::{sms_keyword, SmsKeyword};
///
/// assert_eq!(sms_keyword("  Stop \n"), Some(SmsKeyword::OptOut));
/// assert_eq!(sms_keyword("stop sending me these"), None);
/// ```
pub fn sms_keyword(body: &str) -> Option<SmsKeyword> {
    let word = body.trim();
    let is = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(word));
    if is(&OPT_OUT) {
        Some(SmsKeyword::OptOut)
    } else if is(&OPT_IN) {
        Some(SmsKeyword::OptIn)
    } else if is(&HELP) {
        Some(SmsKeyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_family_word_opts_out() {
        for word in ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"] {
            assert_eq!(sms_keyword(word), Some(SmsKeyword::OptOut), "{word}");
        }
    }

    #[test]
    fn case_and_surrounding_whitespace_do_not_matter() {
        for body in [
            "stop",
            "Stop",
            "sToP",
            " STOP",
            "STOP\n",
            "\t stopall \r\n",
            "\u{a0}Quit\u{2003}",
        ] {
            assert_eq!(sms_keyword(body), Some(SmsKeyword::OptOut), "{body:?}");
        }
    }

    #[test]
    fn start_and_unstop_opt_back_in() {
        assert_eq!(sms_keyword("start"), Some(SmsKeyword::OptIn));
        assert_eq!(sms_keyword(" UNSTOP "), Some(SmsKeyword::OptIn));
    }

    #[test]
    fn help_and_info_ask_for_help() {
        assert_eq!(sms_keyword("help"), Some(SmsKeyword::Help));
        assert_eq!(sms_keyword("Info"), Some(SmsKeyword::Help));
    }

    #[test]
    fn only_the_whole_message_counts() {
        for body in [
            "",
            "   ",
            "stop please",
            "Please stop by the shop",
            "STOP.",
            "S TOP",
            "stopp",
            "unsubscribe me",
            "the end",
            "Can I cancel my order?",
        ] {
            assert_eq!(sms_keyword(body), None, "{body:?}");
        }
    }

    #[test]
    fn non_ascii_lookalikes_are_not_keywords() {
        // A Cyrillic 'С' and 'Т' look like Latin letters but are not the keyword.
        assert_eq!(sms_keyword("СТОП"), None);
        assert_eq!(sms_keyword("SТOP"), None);
    }
}
