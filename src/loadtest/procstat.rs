//! CPU time of local processes, from `/proc/<pid>/stat` (user + system time of all their
//! threads, in the kernel's USER_HZ ticks of 10 ms). A process is named by its pid or by
//! its command name (`/proc/<pid>/comm`, e.g. `freeswitch`, `pivot`); a name matching
//! several processes (two pivot nodes) counts them all.

use std::path::Path;
use std::time::Duration;

/// Why a process could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("no running process is named {0:?} (looked in /proc/*/comm)")]
    NotFound(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not the stat line of a process")]
    Malformed { path: String },
}

/// The kernel reports process times in USER_HZ ticks, 100 per second on Linux.
const TICK: Duration = Duration::from_millis(10);

/// The processes measured, each a name and its pids.
#[derive(Debug, Clone)]
pub struct Procs(Vec<(String, Vec<u32>)>);

/// CPU time used so far, per process name, in the order of [`Procs::names`].
#[derive(Debug, Clone)]
pub struct Sample(Vec<Duration>);

impl Procs {
    pub fn find(names: &[String]) -> Result<Procs, ProcError> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let (label, pids) = match name.parse::<u32>() {
                // A pid is reported under its command name: "freeswitch (pid 28234)".
                Ok(pid) => (pid_label(Path::new("/proc"), pid), vec![pid]),
                Err(_) => (name.clone(), find_pids(Path::new("/proc"), name)?),
            };
            if pids.is_empty() {
                return Err(ProcError::NotFound(name.clone()));
            }
            out.push((label, pids));
        }
        Ok(Procs(out))
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The names that matched more than one process, with their pids.
    pub fn several(&self) -> impl Iterator<Item = (&str, &[u32])> {
        self.0
            .iter()
            .filter(|(_, pids)| pids.len() > 1)
            .map(|(n, pids)| (n.as_str(), pids.as_slice()))
    }

    pub fn sample(&self) -> Result<Sample, ProcError> {
        let mut times = Vec::with_capacity(self.0.len());
        for (_, pids) in &self.0 {
            let mut total = Duration::ZERO;
            for pid in pids {
                let path = format!("/proc/{pid}/stat");
                // A process that ended since counts what it used up to then: nothing new.
                if let Ok(text) = std::fs::read_to_string(&path) {
                    total += cpu_time(&text).ok_or(ProcError::Malformed { path })?;
                }
            }
            times.push(total);
        }
        Ok(Sample(times))
    }
}

/// `COMM (pid PID)`, or `pid PID` when /proc has no name for it.
fn pid_label(proc_root: &Path, pid: u32) -> String {
    match std::fs::read_to_string(proc_root.join(pid.to_string()).join("comm")) {
        Ok(comm) if !comm.trim().is_empty() => format!("{} (pid {pid})", comm.trim()),
        _ => format!("pid {pid}"),
    }
}

impl Sample {
    /// The CPU time used between `before` and this sample, per process.
    pub fn since(&self, before: &Sample) -> Vec<Duration> {
        self.0
            .iter()
            .zip(&before.0)
            .map(|(now, then)| now.saturating_sub(*then))
            .collect()
    }
}

/// The pids whose command name is `name`, this process excepted (`pivot loadtest` is named
/// `pivot` too, and must not count itself as the pivot under test).
pub fn find_pids(proc_dir: &Path, name: &str) -> Result<Vec<u32>, ProcError> {
    let me = std::process::id();
    let entries = std::fs::read_dir(proc_dir).map_err(|source| ProcError::Read {
        path: proc_dir.display().to_string(),
        source,
    })?;
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
            if comm.trim_end() == name {
                pids.push(pid);
            }
        }
    }
    pids.sort_unstable();
    Ok(pids)
}

/// utime + stime from a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces, so fields are counted after its closing parenthesis.
fn cpu_time(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let utime: u32 = fields.get(11)?.parse().ok()?;
    let stime: u32 = fields.get(12)?.parse().ok()?;
    Some(TICK * (utime + stime))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_reads_utime_and_stime_after_the_name() {
        let line =
            "4242 (free switch) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 40 0 100 0 0";
        assert_eq!(cpu_time(line), Some(Duration::from_millis(3250)));
        assert_eq!(cpu_time("garbage"), None);
    }

    #[test]
    fn this_process_is_found_by_pid_and_by_name() {
        let me = std::process::id();
        let procs = Procs::find(&[me.to_string()]).unwrap();
        assert_eq!(procs.sample().unwrap().0.len(), 1);
        let comm = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
        let label = format!("{} (pid {me})", comm.trim_end());
        assert_eq!(procs.names(), vec![label], "a pid is named by its command");
        let pids = find_pids(Path::new("/proc"), comm.trim_end()).unwrap();
        assert!(!pids.contains(&me), "never itself");
        let init = find_pids(Path::new("/proc"), "no-such-command-xyz").unwrap();
        assert!(init.is_empty());
    }

    #[test]
    fn an_unknown_name_is_an_error() {
        let e = Procs::find(&["no-such-process-name-xyz".into()]).unwrap_err();
        assert!(e.to_string().contains("no-such-process-name-xyz"));
    }
}
