//! What Linux's `/proc` says about a process: its memory, and how many files we may open.

use std::io;

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
    fn our_own_process_is_readable() {
        let own = memory(std::process::id()).unwrap();
        assert!(own.hwm_kib >= own.rss_kib && own.rss_kib > 0);
    }
}
