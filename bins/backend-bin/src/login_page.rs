//! The login page with what the user must see on it: after a refused login, why, with the
//! username they typed still in its field; after logging out, that they are logged out.
//!
//! `static/login.html` stays a plain file with two marked places: the comment
//! `<!-- login-notice -->` where the notice goes, and the username field's `id="username"`
//! after which its `value` goes. Both are HTML-escaped; a page without the markers is served
//! as it is.

/// Where the notice goes.
const NOTICE_MARK: &str = "<!-- login-notice -->";
/// The username field, after which its value goes.
const USERNAME_MARK: &str = "id=\"username\"";

/// What the login page tells the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice<'a> {
    /// The credentials were refused; the username they typed.
    Refused(&'a str),
    /// They just logged out.
    LoggedOut,
}

/// `page` (login.html) with `notice` filled in.
pub fn render(page: &str, notice: Notice<'_>) -> String {
    let (html, username) = match notice {
        Notice::Refused(user) => (
            "<p class=\"error\" role=\"alert\">Wrong username or password. Check both and try \
             again.</p>",
            user,
        ),
        Notice::LoggedOut => (
            "<p class=\"notice\" role=\"status\">You are logged out.</p>",
            "",
        ),
    };
    let mut out = page.replacen(NOTICE_MARK, html, 1);
    if !username.is_empty() {
        let value = format!("{USERNAME_MARK} value=\"{}\"", escape(username));
        out = out.replacen(USERNAME_MARK, &value, 1);
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str =
        "<form><!-- login-notice --><input id=\"username\" name=\"username\"></form>";

    #[test]
    fn a_refusal_says_why_and_keeps_the_username_escaped() {
        let out = render(PAGE, Notice::Refused("al\"<ice>"));
        assert!(out.contains("Wrong username or password"), "{out}");
        assert!(out.contains("value=\"al&quot;&lt;ice&gt;\""), "{out}");
        assert!(!out.contains(NOTICE_MARK));
    }

    #[test]
    fn logging_out_is_confirmed() {
        let out = render(PAGE, Notice::LoggedOut);
        assert!(out.contains("You are logged out."), "{out}");
        assert!(!out.contains("value="), "{out}");
    }
}
