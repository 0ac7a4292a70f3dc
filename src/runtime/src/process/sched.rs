//! process.scheduler (sched_setattr) and process.ioPriority (ioprio_set), applied by the
//! container process to itself before it drops privileges.

use super::sync::ChildError;
use crate::spec::{IoPriority, Scheduler};
use nix::errno::Errno;

fn policy(name: &str) -> Option<u32> {
    Some(match name {
        "SCHED_OTHER" => 0,
        "SCHED_FIFO" => 1,
        "SCHED_RR" => 2,
        "SCHED_BATCH" => 3,
        "SCHED_ISO" => 4,
        "SCHED_IDLE" => 5,
        "SCHED_DEADLINE" => 6,
        _ => return None,
    })
}

fn flag(name: &str) -> Option<u64> {
    Some(match name {
        "SCHED_FLAG_RESET_ON_FORK" => 0x01,
        "SCHED_FLAG_RECLAIM" => 0x02,
        "SCHED_FLAG_DL_OVERRUN" => 0x04,
        "SCHED_FLAG_KEEP_POLICY" => 0x08,
        "SCHED_FLAG_KEEP_PARAMS" => 0x10,
        "SCHED_FLAG_UTIL_CLAMP_MIN" => 0x20,
        "SCHED_FLAG_UTIL_CLAMP_MAX" => 0x40,
        _ => return None,
    })
}

fn io_class(name: &str) -> Option<i32> {
    Some(match name {
        "IOPRIO_CLASS_RT" => 1,
        "IOPRIO_CLASS_BE" => 2,
        "IOPRIO_CLASS_IDLE" => 3,
        _ => return None,
    })
}

/// Config checks, so a bad name fails `create` before anything exists.
pub fn validate(s: Option<&Scheduler>, io: Option<&IoPriority>) -> Result<(), String> {
    if let Some(s) = s {
        policy(&s.policy).ok_or_else(|| format!("unknown scheduler policy {:?}", s.policy))?;
        for f in &s.flags {
            flag(f).ok_or_else(|| format!("unknown scheduler flag {f:?}"))?;
        }
        if !(-20..=19).contains(&s.nice) {
            return Err(format!("scheduler nice {} is outside -20..19", s.nice));
        }
    }
    if let Some(io) = io {
        io_class(&io.class).ok_or_else(|| format!("unknown ioPriority class {:?}", io.class))?;
        if !(0..=7).contains(&io.priority) {
            return Err(format!(
                "ioPriority priority {} is outside 0..7",
                io.priority
            ));
        }
    }
    Ok(())
}

#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

pub fn apply(s: Option<&Scheduler>, io: Option<&IoPriority>) -> Result<(), ChildError> {
    if let Some(s) = s {
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: policy(&s.policy).unwrap_or(0),
            flags: s.flags.iter().filter_map(|f| flag(f)).fold(0, |a, b| a | b),
            nice: s.nice,
            priority: s.priority.max(0) as u32,
            runtime: s.runtime,
            deadline: s.deadline,
            period: s.period,
            util_min: 0,
            util_max: 1024,
        };
        // SAFETY: sched_setattr on ourselves with an initialised attr of the size it declares.
        if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } != 0 {
            return Err(ChildError::sys(
                format!("set scheduler {}", s.policy),
                Errno::last(),
            ));
        }
    }
    if let Some(io) = io {
        let class = io_class(&io.class).unwrap_or(2);
        const IOPRIO_WHO_PROCESS: libc::c_int = 1;
        // SAFETY: ioprio_set on ourselves with integer arguments.
        let r = unsafe {
            libc::syscall(
                libc::SYS_ioprio_set,
                IOPRIO_WHO_PROCESS,
                0,
                (class << 13) | io.priority,
            )
        };
        if r != 0 {
            return Err(ChildError::sys(
                format!("set ioPriority {}", io.class),
                Errno::last(),
            ));
        }
    }
    Ok(())
}
