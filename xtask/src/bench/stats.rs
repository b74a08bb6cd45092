//! Medians of rounds and pairwise ratios: how side-by-side runs become one honest number.

use serde::Serialize;

use super::wrk::WrkResult;

/// The median of `values` (the mean of the two middle ones for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[mid]),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
    }
}

/// `a[i] / b[i]` for each round both sides ran; rounds where `b` measured nothing are skipped,
/// since a ratio against zero says nothing.
pub fn pairwise_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .filter(|&(_, &b)| b > 0.0)
        .map(|(a, b)| a / b)
        .collect()
}

/// One side of a comparison: its runs in order and their medians.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// Who was measured ("ours", "nginx").
    pub name: String,
    /// Median requests per second over the runs.
    pub requests_per_sec: f64,
    /// Median of the runs' p50 latencies, microseconds.
    pub p50_us: f64,
    /// Median of the runs' p99 latencies, microseconds.
    pub p99_us: f64,
    /// Failed answers over all runs: a fast error is not a win.
    pub non_2xx: u64,
    /// Socket errors over all runs.
    pub socket_errors: u64,
    /// Every run, in the order they were made.
    pub runs: Vec<WrkResult>,
}

impl Side {
    /// Summarises `runs` of one server.
    pub fn new(name: &str, runs: Vec<WrkResult>) -> Self {
        let med = |field: fn(&WrkResult) -> f64| {
            median(&runs.iter().map(field).collect::<Vec<_>>()).unwrap_or(0.0)
        };
        Side {
            name: name.to_owned(),
            requests_per_sec: med(|r| r.requests_per_sec),
            p50_us: med(|r| r.p50_us),
            p99_us: med(|r| r.p99_us),
            non_2xx: runs.iter().map(|r| r.non_2xx).sum(),
            socket_errors: runs.iter().map(|r| r.socket_errors).sum(),
            runs,
        }
    }

    fn rates(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.requests_per_sec).collect()
    }
}

/// Requests/s of one side over another, round by round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratio {
    /// What is divided by what ("ours/nginx").
    pub label: String,
    /// The ratio of each round.
    pub rounds: Vec<f64>,
    /// Their median: the figure to quote.
    pub median: f64,
}

impl Ratio {
    /// `a`'s requests/s over `b`'s, paired by round, so drift over the run cancels out.
    pub fn between(a: &Side, b: &Side) -> Self {
        let rounds = pairwise_ratios(&a.rates(), &b.rates());
        Ratio {
            label: format!("{}/{}", a.name, b.name),
            median: median(&rounds).unwrap_or(0.0),
            rounds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(requests_per_sec: f64, p99_us: f64, non_2xx: u64) -> WrkResult {
        WrkResult {
            requests_per_sec,
            p50_us: p99_us / 2.0,
            p99_us,
            requests: 1000,
            non_2xx,
            socket_errors: 0,
        }
    }

    #[test]
    fn medians() {
        let check = |values: &[f64], expected: Option<f64>| {
            assert_eq!(median(values), expected, "{values:?}");
        };
        check(&[], None);
        check(&[7.0], Some(7.0));
        check(&[3.0, 1.0, 2.0], Some(2.0));
        check(&[4.0, 1.0, 3.0, 2.0], Some(2.5));
        check(&[100.0, 1.0, 2.0, 3.0, -5.0], Some(2.0));
    }

    #[test]
    fn ratios_pair_rounds_and_skip_empty_ones() {
        let check = |a: &[f64], b: &[f64], expected: &[f64]| {
            assert_eq!(pairwise_ratios(a, b), expected, "{a:?} / {b:?}");
        };
        check(&[10.0, 20.0, 30.0], &[5.0, 10.0, 60.0], &[2.0, 2.0, 0.5]);
        check(&[10.0, 20.0], &[0.0, 10.0], &[2.0]);
        check(&[10.0, 20.0, 30.0], &[5.0], &[2.0]);
        check(&[], &[], &[]);
    }

    #[test]
    fn side_and_ratio_summaries() {
        let ours = Side::new(
            "ours",
            vec![
                run(90.0, 900.0, 0),
                run(110.0, 1100.0, 2),
                run(100.0, 1000.0, 1),
            ],
        );
        assert_eq!(ours.requests_per_sec, 100.0);
        assert_eq!(ours.p50_us, 500.0);
        assert_eq!(ours.p99_us, 1000.0);
        assert_eq!(ours.non_2xx, 3);
        let nginx = Side::new(
            "nginx",
            vec![run(100.0, 1.0, 0), run(100.0, 1.0, 0), run(50.0, 1.0, 0)],
        );
        let ratio = Ratio::between(&ours, &nginx);
        assert_eq!(ratio.label, "ours/nginx");
        assert_eq!(ratio.rounds, [0.9, 1.1, 2.0]);
        assert_eq!(ratio.median, 1.1);
    }
}
