//! What Linux's `/proc` says about a process: its memory and CPU time, and how many files we
//! may open.

use std::{io, time::Duration};

/// A process's resident memory, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Memory {
    /// `VmRSS`: resident now.
    pub(crate) rss_kib: u64,
    /// `VmHWM`: the most ever resident, the peak.
    pub(crate) hwm_kib: u64,
}

/// The memory of process `pid`, from `/proc/<pid>/status`.
pub(crate) fn memory(pid: u32) -> io::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_memory(&status).ok_or_else(|| io::Error::other("no VmRSS/VmHWM in /proc status"))
}

fn parse_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// The CPU time process `pid` has used so far, all its threads, user and system, from
/// `/proc/<pid>/stat`. Its unit, the clock tick, is 1/100 s on Linux whatever the kernel's
/// own tick rate (`USER_HZ` is part of the ABI).
pub(crate) fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| Duration::from_millis(ticks * 10))
        .ok_or_else(|| io::Error::other("no utime/stime in /proc stat"))
}

/// The CPU time every core of the machine has spent idle (or waiting for I/O) so far, from
/// the first line of `/proc/stat`, in the same clock ticks.
pub(crate) fn idle_time() -> io::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    parse_idle_ticks(&stat)
        .map(|ticks| Duration::from_millis(ticks * 10))
        .ok_or_else(|| io::Error::other("no cpu line in /proc/stat"))
}

/// `cpu  user nice system idle iowait ...`: the fourth and fifth numbers.
fn parse_idle_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let mut fields = line.split_whitespace().skip(4);
    let idle: u64 = fields.next()?.parse().ok()?;
    let iowait: u64 = fields.next()?.parse().ok()?;
    Some(idle + iowait)
}

/// `utime` and `stime` are fields 14 and 15; the command name (field 2) is in parentheses and
/// may itself hold spaces or parentheses, so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// The soft limit on open files of this process, which its children inherit; `None` when
/// unlimited or unknown. A thousand requests in flight need a socket each on every hop.
pub(crate) fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A machine description line from `/proc/cpuinfo` or `/proc/meminfo`, e.g. `model name`.
pub(crate) fn info_field(file: &str, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_memory_lines() {
        let status = "Name:\tcaptcha-bench\nVmHWM:\t   12345 kB\nVmRSS:\t    6789 kB\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss_kib: 6789,
                hwm_kib: 12345
            })
        );
        assert_eq!(parse_memory("Name:\tx\n"), None);
    }

    #[test]
    fn reads_the_idle_ticks_of_every_core() {
        let stat = "cpu  10 2 30 400 5 6 7 0 0 0\ncpu0 5 1 15 200 2 3 3 0 0 0\n";
        assert_eq!(parse_idle_ticks(stat), Some(405));
        assert!(idle_time().is_ok());
    }

    #[test]
    fn reads_the_cpu_ticks_after_the_command_name() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 731 58 0 0 20 0 3";
        assert_eq!(parse_cpu_ticks(stat), Some(731 + 58));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn our_own_process_is_readable() {
        assert!(cpu_time(std::process::id()).is_ok());
        let own = memory(std::process::id()).unwrap();
        assert!(own.hwm_kib >= own.rss_kib && own.rss_kib > 0);
    }
}
