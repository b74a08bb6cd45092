//! Tokenizer for proxy.conf: words, quoted strings, braces, `;` and line ends, each with its position.
//!
//! Line ends are tokens because a directive may end at the end of its line instead of a `;`
//! (the course writes `dist_policy round-robin` without one).

use std::fmt;

/// A 1-based position in the source; columns count characters, so a tab is one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) col: usize,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare run of characters such as `proxy_pass` or `http://127.0.0.1:9000`.
    Word(String),
    /// A quoted string with its escapes resolved.
    Str(String),
    Open,
    Close,
    Semi,
    Newline,
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "`{w}`"),
            Tok::Str(s) => write!(f, "\"{s}\""),
            Tok::Open => f.write_str("`{`"),
            Tok::Close => f.write_str("`}`"),
            Tok::Semi => f.write_str("`;`"),
            Tok::Newline => f.write_str("end of line"),
            Tok::Eof => f.write_str("end of file"),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: Pos,
}

/// Splits `src` into tokens, always ending with [`Tok::Eof`].
///
/// `#` starts a comment only where a token could start, so a `#` inside a word stays part of it,
/// as in nginx. A stray byte-order mark and `\r` of CRLF files are ignored.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, (Pos, String)> {
    let mut lexer = Lexer {
        chars: src
            .strip_prefix('\u{feff}')
            .unwrap_or(src)
            .chars()
            .peekable(),
        pos: Pos { line: 1, col: 1 },
    };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.tok == Tok::Eof;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    pos: Pos,
}

impl Lexer<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }

    fn next_token(&mut self) -> Result<Token, (Pos, String)> {
        while let Some(&c) = self.chars.peek() {
            match c {
                '\n' => break,
                '#' => {
                    while self.chars.peek().is_some_and(|&c| c != '\n') {
                        self.bump();
                    }
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                _ => break,
            }
        }
        let pos = self.pos;
        let tok = match self.bump() {
            None => Tok::Eof,
            Some('\n') => Tok::Newline,
            Some('{') => Tok::Open,
            Some('}') => Tok::Close,
            Some(';') => Tok::Semi,
            Some(quote @ ('"' | '\'')) => Tok::Str(self.string(quote, pos)?),
            Some(first) => {
                let mut word = String::from(first);
                while let Some(&c) = self.chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"' | '\'') {
                        break;
                    }
                    word.push(c);
                    self.bump();
                }
                Tok::Word(word)
            }
        };
        Ok(Token { tok, pos })
    }

    /// Reads the rest of a string opened by `quote` at `start`; strings end on their line.
    fn string(&mut self, quote: char, start: Pos) -> Result<String, (Pos, String)> {
        let mut out = String::new();
        loop {
            match self.chars.peek().copied() {
                None | Some('\n') => return Err((start, "unterminated string".to_owned())),
                Some(c) if c == quote => {
                    self.bump();
                    return Ok(out);
                }
                Some('\\') => {
                    self.bump();
                    match self.chars.peek().copied() {
                        Some(c @ ('"' | '\'' | '\\')) => {
                            out.push(c);
                            self.bump();
                        }
                        _ => out.push('\\'),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders tokens as `line:col kind` so expectations read like the source.
    fn check(src: &str, expected: &[&str]) {
        let got: Vec<String> = tokenize(src)
            .unwrap()
            .into_iter()
            .map(|t| {
                let kind = match t.tok {
                    Tok::Word(w) => format!("w:{w}"),
                    Tok::Str(s) => format!("s:{s}"),
                    Tok::Open => "{".to_owned(),
                    Tok::Close => "}".to_owned(),
                    Tok::Semi => ";".to_owned(),
                    Tok::Newline => "nl".to_owned(),
                    Tok::Eof => "eof".to_owned(),
                };
                format!("{}:{} {kind}", t.pos.line, t.pos.col)
            })
            .collect();
        assert_eq!(got, expected, "tokens of {src:?}");
    }

    fn check_err(src: &str, line: usize, col: usize, message: &str) {
        let (pos, msg) = tokenize(src).unwrap_err();
        assert_eq!(
            (pos.line, pos.col, msg.as_str()),
            (line, col, message),
            "{src:?}"
        );
    }

    #[test]
    fn tokens_and_positions() {
        check("", &["1:1 eof"]);
        check(
            "host \"a\" {",
            &["1:1 w:host", "1:6 s:a", "1:10 {", "1:11 eof"],
        );
        check(
            "\tproxy_pass http://x:1;\n}",
            &[
                "1:2 w:proxy_pass",
                "1:13 w:http://x:1",
                "1:23 ;",
                "1:24 nl",
                "2:1 }",
                "2:2 eof",
            ],
        );
        check(
            "a{b}c;",
            &[
                "1:1 w:a", "1:2 {", "1:3 w:b", "1:4 }", "1:5 w:c", "1:6 ;", "1:7 eof",
            ],
        );
    }

    #[test]
    fn comments_and_whitespace() {
        check("# only a comment\n", &["1:17 nl", "2:1 eof"]);
        check(
            "a # trailing ; { }\nb",
            &["1:1 w:a", "1:19 nl", "2:1 w:b", "2:2 eof"],
        );
        check("a#b", &["1:1 w:a#b", "1:4 eof"]);
        check("a\r\nb", &["1:1 w:a", "1:3 nl", "2:1 w:b", "2:2 eof"]);
        check("\u{feff}a", &["1:1 w:a", "1:2 eof"]);
    }

    #[test]
    fn strings() {
        check(r#""a b""#, &["1:1 s:a b", "1:6 eof"]);
        check(r#"'x;y'"#, &["1:1 s:x;y", "1:6 eof"]);
        check(r#""q\"\\\n""#, &["1:1 s:q\"\\\\n", "1:10 eof"]);
        check("\"#not comment\"", &["1:1 s:#not comment", "1:15 eof"]);
        check_err("host \"abc", 1, 6, "unterminated string");
        check_err("a\n  \"abc\n\"", 2, 3, "unterminated string");
    }
}
