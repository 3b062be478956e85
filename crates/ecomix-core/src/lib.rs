//! Shared vocabulary of ecomix: the column catalogue, the lake's layout and time zone.

pub mod catalogue;
pub mod config;
pub mod layout;
pub mod secrets;

/// eCO2mix publishes French wall-clock times.
pub const TIME_ZONE: chrono_tz::Tz = chrono_tz::Europe::Paris;

/// The process's peak resident memory so far, in MiB (Linux: `VmHWM`; `None` elsewhere), for
/// the reports and debug logs of long steps.
pub fn peak_rss_mib() -> Option<u64> {
    memory_status_mib("VmHWM:")
}

/// A `kB` field of `/proc/self/status`, in MiB.
fn memory_status_mib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn peak_rss_covers_memory_in_use() {
        let before = super::memory_status_mib("VmRSS:").expect("Linux reports VmRSS");
        // 64 MiB, every byte written: resident, so the high-water mark is past it.
        let block = vec![1u8; 64 << 20];
        let peak = super::peak_rss_mib().expect("Linux reports VmHWM");
        assert!(block.iter().step_by(4096).all(|&b| b == 1));
        assert!(
            peak >= before + 60,
            "{before} MiB resident, then a peak of {peak} MiB"
        );
    }
}
