//! What the daemons' operator consoles share, so they read alike: aligned tables and the
//! timestamp at the start of an unprompted line.

use std::time::{SystemTime, UNIX_EPOCH};

/// `rows` under `headers` in columns padded to their widest cell, two spaces apart; the last
/// column is not padded. Widths count characters, not bytes.
///
/// ```
/// let t = router::console::table(&["peer", "name"], &[vec!["127.0.0.1:5001".into(), "alice".into()]]);
/// assert_eq!(t, "peer            name\n127.0.0.1:5001  alice");
/// ```
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.trim_end().to_string()
    };
    let mut lines = vec![line(headers.to_vec())];
    lines.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    lines.join("\n")
}

/// `n` and the noun, plural when `n != 1`: `1 peer`, `2 peers`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The time of day `HH:MM:SS` (UTC) of `ms` since the Unix epoch.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The time of day now, as [`clock`] writes it.
pub fn now() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    clock(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_the_widest_cell() {
        let rows = vec![
            vec!["a".to_string(), "long value".to_string(), "x".to_string()],
            vec!["bbbb".to_string(), "v".to_string(), String::new()],
        ];
        assert_eq!(
            table(&["k", "val", "last"], &rows),
            "k     val         last\na     long value  x\nbbbb  v"
        );
        assert_eq!(table(&["only"], &[]), "only");
    }

    #[test]
    fn counts_and_clock() {
        assert_eq!(count(1, "peer"), "1 peer");
        assert_eq!(count(0, "peer"), "0 peers");
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(
            clock(((13 * 3600 + 5 * 60 + 9) * 1000) + 86_400_000),
            "13:05:09"
        );
    }
}
