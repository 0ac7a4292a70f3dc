//! runc 1.1's conversions between v1 and v2 resource values.

use super::CgroupError;

/// cpu.shares (2..262144) to cpu.weight (1..10000): runc 1.1's linear mapping.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// blkio.weight (10..1000) to io.weight (1..10000).
pub(crate) fn blkio_weight_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

/// v1 memory.memsw (memory + swap) to v2 memory.swap.max (swap only). -1 is "max", 0 unset.
pub(crate) fn swap_to_v2(swap: i64, memory: i64) -> Result<i64, CgroupError> {
    // Unlimited memory with no swap given means unlimited swap too, as on v1.
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err(CgroupError::Invalid(
            "memory.swap needs memory.limit: unable to set swap limit without memory limit".into(),
        ));
    }
    if swap < memory {
        return Err(CgroupError::Invalid(format!(
            "memory.swap {swap} is below memory.limit {memory}: memory+swap limit must be >= memory limit"
        )));
    }
    Ok(swap - memory)
}

/// v2 values for .max/.low files: 0 unset, -1 "max".
pub(crate) fn v2_num(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".into()),
        n => Some(n.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_like_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(0), 0);
    }

    #[test]
    fn blkio_weight_converts_like_runc() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
    }

    #[test]
    fn swap_converts_like_runc() {
        assert_eq!(swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_to_v2(-1, 100).unwrap(), -1);
        assert_eq!(swap_to_v2(0, 100).unwrap(), 0);
        assert_eq!(swap_to_v2(300, 100).unwrap(), 200);
        assert_eq!(swap_to_v2(100, 100).unwrap(), 0);
        assert!(swap_to_v2(50, 100).is_err());
        assert!(swap_to_v2(50, 0).is_err());
    }
}
