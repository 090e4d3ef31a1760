//! The load test's numbers: per extension, calls ok and failed (with reasons), calls/s, the
//! first-audio latency (p50/p95/p99/mean) and CPU milliseconds per call of each process;
//! with a compared extension, the ratios (extension under test / compared). Text for
//! people, JSON for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::{LoadOptions, Outcome};

/// One round against one extension.
#[derive(Debug, Clone)]
pub struct RunStats {
    pub outcomes: Vec<Outcome>,
    pub wall: Duration,
    /// CPU time per measured process, in the order of [`Report::procs`].
    pub cpu: Vec<Duration>,
}

impl RunStats {
    pub fn new(outcomes: Vec<Outcome>, wall: Duration, cpu: Vec<Duration>) -> Self {
        RunStats {
            outcomes,
            wall,
            cpu,
        }
    }
}

/// Everything measured, by extension.
#[derive(Debug, Clone)]
pub struct Report {
    pub calls: usize,
    pub concurrency: usize,
    pub procs: Vec<String>,
    /// Extensions in the order they ran (the one under test first).
    pub order: Vec<String>,
    pub runs: BTreeMap<String, Vec<RunStats>>,
}

/// The sums over an extension's rounds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub extension: String,
    pub ok: usize,
    pub failed: usize,
    pub failures: BTreeMap<String, usize>,
    pub calls_per_sec: f64,
    pub first_audio_ms: Latency,
    /// CPU ms per call, by process.
    pub cpu_ms_per_call: BTreeMap<String, f64>,
    /// All measured processes together, ms per call.
    pub all_cpu_ms_per_call: f64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
}

impl Report {
    pub fn new(opts: &LoadOptions, procs: Vec<String>) -> Report {
        Report {
            calls: opts.calls,
            concurrency: opts.concurrency,
            procs,
            order: Vec::new(),
            runs: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, extension: &str, run: RunStats) {
        if !self.order.iter().any(|e| e == extension) {
            self.order.push(extension.to_string());
        }
        self.runs
            .entry(extension.to_string())
            .or_default()
            .push(run);
    }

    pub fn summaries(&self) -> Vec<Summary> {
        self.order
            .iter()
            .filter_map(|ext| Some(self.summary(ext, self.runs.get(ext)?)))
            .collect()
    }

    fn summary(&self, extension: &str, runs: &[RunStats]) -> Summary {
        let outcomes: Vec<&Outcome> = runs.iter().flat_map(|r| &r.outcomes).collect();
        let total = outcomes.len().max(1) as f64;
        let mut failures = BTreeMap::new();
        for o in &outcomes {
            if let Some(why) = &o.failure {
                *failures.entry(why.clone()).or_insert(0) += 1;
            }
        }
        let failed = failures.values().sum();
        let wall: f64 = runs.iter().map(|r| r.wall.as_secs_f64()).sum();
        let mut lat: Vec<f64> = outcomes
            .iter()
            .filter_map(|o| o.first_audio)
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        lat.sort_by(f64::total_cmp);
        let mut cpu = BTreeMap::new();
        for (i, name) in self.procs.iter().enumerate() {
            let ms: f64 = runs
                .iter()
                .filter_map(|r| r.cpu.get(i))
                .map(|d| d.as_secs_f64() * 1000.0)
                .sum();
            cpu.insert(name.clone(), ms / total);
        }
        Summary {
            extension: extension.to_string(),
            ok: outcomes.len() - failed,
            failed,
            failures,
            calls_per_sec: if wall > 0.0 { total / wall } else { 0.0 },
            first_audio_ms: latency(&lat),
            all_cpu_ms_per_call: cpu.values().sum(),
            cpu_ms_per_call: cpu,
        }
    }

    /// The report for people.
    pub fn render(&self) -> String {
        let sums = self.summaries();
        let mut out = format!(
            "{} calls per round at {} concurrent\n",
            self.calls, self.concurrency
        );
        for s in &sums {
            let _ = writeln!(out, "\nextension {}", s.extension);
            let _ = writeln!(out, "  calls ok {}, failed {}", s.ok, s.failed);
            for (why, n) in &s.failures {
                let _ = writeln!(out, "    {n} × {why}");
            }
            let _ = writeln!(out, "  calls/s {:.1}", s.calls_per_sec);
            let l = &s.first_audio_ms;
            let _ = writeln!(
                out,
                "  CREATE → first PLAYBACK_START ms: p50 {:.1}  p95 {:.1}  p99 {:.1}  mean {:.1}",
                l.p50, l.p95, l.p99, l.mean
            );
            for (name, ms) in &s.cpu_ms_per_call {
                let _ = writeln!(out, "  CPU ms/call {name}: {ms:.2}");
            }
            let _ = writeln!(
                out,
                "  CPU ms/call all measured: {:.2}",
                s.all_cpu_ms_per_call
            );
        }
        if let [a, b] = &sums[..] {
            let _ = writeln!(out, "\nratios {} / {}", a.extension, b.extension);
            let (la, lb) = (&a.first_audio_ms, &b.first_audio_ms);
            let _ = writeln!(
                out,
                "  first audio mean {}  p95 {}",
                ratio(la.mean, lb.mean),
                ratio(la.p95, lb.p95)
            );
            for name in &self.procs {
                let (x, y) = (a.cpu_ms_per_call[name], b.cpu_ms_per_call[name]);
                let _ = writeln!(out, "  CPU/call {name} {}", ratio(x, y));
            }
            let _ = writeln!(
                out,
                "  CPU/call all {}",
                ratio(a.all_cpu_ms_per_call, b.all_cpu_ms_per_call)
            );
            let _ = writeln!(out, "  calls/s {}", ratio(a.calls_per_sec, b.calls_per_sec));
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "calls": self.calls,
            "concurrency": self.concurrency,
            "extensions": self.summaries(),
        })
    }
}

/// `x / y` as `1.25×`; `n/a` when there is nothing to compare against (a process that used
/// no CPU on the compared extension, such as pivot against mod_httapi).
fn ratio(x: f64, y: f64) -> String {
    if y > 0.0 && x.is_finite() {
        format!("{:.2}×", x / y)
    } else {
        "n/a".to_string()
    }
}

fn latency(sorted: &[f64]) -> Latency {
    if sorted.is_empty() {
        return Latency::default();
    }
    let at = |q: f64| {
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted[i.min(sorted.len() - 1)]
    };
    Latency {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ok(ms: u64) -> Outcome {
        Outcome {
            failure: None,
            first_audio: Some(Duration::from_millis(ms)),
        }
    }

    #[test]
    fn sums_rounds_counts_failures_and_gives_ratios() {
        let opts = LoadOptions {
            calls: 4,
            concurrency: 2,
            ..LoadOptions::default()
        };
        let mut r = Report::new(&opts, vec!["freeswitch".into()]);
        let failed = Outcome {
            failure: Some("hangup USER_BUSY".into()),
            first_audio: None,
        };
        let ms = Duration::from_millis;
        r.add(
            "9000",
            RunStats::new(vec![ok(10), ok(20), ok(30), failed], ms(1000), vec![ms(40)]),
        );
        r.add(
            "9020",
            RunStats::new(vec![ok(20), ok(20), ok(20), ok(20)], ms(500), vec![ms(20)]),
        );
        let s = r.summaries();
        assert_eq!((s[0].ok, s[0].failed), (3, 1));
        assert_eq!(s[0].failures["hangup USER_BUSY"], 1);
        assert_eq!(s[0].first_audio_ms.p50, 20.0);
        assert_eq!(s[0].first_audio_ms.mean, 20.0);
        assert_eq!(s[0].cpu_ms_per_call["freeswitch"], 10.0);
        assert_eq!(s[1].calls_per_sec, 8.0);
        let text = r.render();
        assert!(text.contains("ratios 9000 / 9020"), "{text}");
        assert!(text.contains("CPU/call freeswitch 2.00×"), "{text}");
        assert!(text.contains("calls/s 0.50×"), "{text}");
    }

    #[test]
    fn a_process_idle_on_the_compared_extension_has_no_ratio() {
        let opts = LoadOptions::default();
        let mut r = Report::new(&opts, vec!["freeswitch".into(), "pivot".into()]);
        let ms = Duration::from_millis;
        r.add(
            "9000",
            RunStats::new(vec![ok(10)], ms(100), vec![ms(10), ms(1)]),
        );
        r.add(
            "9020",
            RunStats::new(vec![ok(10)], ms(100), vec![ms(8), ms(0)]),
        );
        let text = r.render();
        assert!(text.contains("CPU/call pivot n/a"), "{text}");
        assert!(text.contains("CPU/call freeswitch 1.25×"), "{text}");
        assert!(!text.contains("NaN"), "{text}");
    }
}
