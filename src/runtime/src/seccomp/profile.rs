//! Reading `linux.seccomp`: actions, operators, flags and rules, validated and resolved to
//! syscall numbers for every architecture the filter covers.

use super::arch::{self, Arch};
use super::SeccompError;
use crate::spec::{Seccomp, SeccompArg};

/// The largest errno the kernel passes through (MAX_ERRNO).
const MAX_ERRNO: u32 = 4095;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    KillThread,
    KillProcess,
    Trap,
    Errno(u32),
    Trace(u32),
    Allow,
    Log,
    Notify,
}

/// OCI action names with the SECCOMP_RET_* value they map to (data bits zero).
pub(super) const ACTIONS: &[(&str, u32)] = &[
    ("SCMP_ACT_KILL", 0x0000_0000),
    ("SCMP_ACT_KILL_PROCESS", 0x8000_0000),
    ("SCMP_ACT_KILL_THREAD", 0x0000_0000),
    ("SCMP_ACT_TRAP", 0x0003_0000),
    ("SCMP_ACT_ERRNO", 0x0005_0000),
    ("SCMP_ACT_TRACE", 0x7ff0_0000),
    ("SCMP_ACT_ALLOW", 0x7fff_0000),
    ("SCMP_ACT_LOG", 0x7ffc_0000),
    ("SCMP_ACT_NOTIFY", 0x7fc0_0000),
];

pub(super) const OPERATORS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

impl Action {
    pub(super) fn parse(name: &str, errno_ret: Option<u32>) -> Result<Action, SeccompError> {
        let errno = match errno_ret {
            Some(e) if e > MAX_ERRNO => return Err(SeccompError::ErrnoRange(e)),
            Some(e) => e,
            None => libc::EPERM as u32,
        };
        Ok(match name {
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_ERRNO" => Action::Errno(errno),
            // runc gives a tracer EPERM as the message data unless errnoRet says otherwise.
            "SCMP_ACT_TRACE" => Action::Trace(errno),
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_NOTIFY" => Action::Notify,
            _ => return Err(SeccompError::UnknownAction(name.to_string())),
        })
    }

    /// The filter's return value (SECCOMP_RET_*).
    pub(super) fn ret(self) -> u32 {
        match self {
            Action::KillThread => 0,
            Action::KillProcess => 0x8000_0000,
            Action::Trap => 0x0003_0000,
            Action::Errno(e) => 0x0005_0000 | (e & 0xffff),
            Action::Trace(e) => 0x7ff0_0000 | (e & 0xffff),
            Action::Allow => 0x7fff_0000,
            Action::Log => 0x7ffc_0000,
            Action::Notify => 0x7fc0_0000,
        }
    }

    /// Actions after which unknown (newer) syscalls must not be turned into ENOSYS: a
    /// permissive default already lets the kernel answer ENOSYS itself (runc's rule).
    fn is_permissive(self) -> bool {
        matches!(self, Action::Allow | Action::Log | Action::Trace(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

/// One argument comparison. For MASKED_EQ, `value` is the mask and `value_two` the datum
/// (`(arg & value) == value_two`), as in runc/libseccomp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cmp {
    pub index: u32,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

fn parse_arg(syscall: &str, arg: &SeccompArg) -> Result<Cmp, SeccompError> {
    if arg.index > 5 {
        return Err(SeccompError::ArgIndex {
            syscall: syscall.to_string(),
            index: arg.index,
        });
    }
    let op = match arg.op.as_str() {
        "SCMP_CMP_NE" => Op::Ne,
        "SCMP_CMP_LT" => Op::Lt,
        "SCMP_CMP_LE" => Op::Le,
        "SCMP_CMP_EQ" => Op::Eq,
        "SCMP_CMP_GE" => Op::Ge,
        "SCMP_CMP_GT" => Op::Gt,
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEq,
        other => return Err(SeccompError::UnknownOperator(other.to_string())),
    };
    Ok(Cmp {
        index: arg.index,
        op,
        value: arg.value,
        value_two: arg.value_two,
    })
}

/// A rule for one syscall: all comparisons must hold (AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rule {
    pub cmps: Vec<Cmp>,
    pub action: Action,
}

/// Everything the code generator needs for one architecture.
#[derive(Debug, Default)]
pub(super) struct ArchRules {
    /// (syscall number, index into `Plan::rules`), sorted by number, then profile order.
    pub entries: Vec<(u32, u32)>,
    /// Syscalls above this number are unknown to the profile and get ENOSYS.
    pub enosys_above: Option<u32>,
}

pub(super) const FLAG_TSYNC: u32 = 1;
pub(super) const FLAG_LOG: u32 = 2;
pub(super) const FLAG_SPEC_ALLOW: u32 = 4;
pub(super) const FLAG_NEW_LISTENER: u32 = 8;
pub(super) const FLAG_TSYNC_ESRCH: u32 = 16;
pub(super) const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

/// The OCI flag names with their SECCOMP_FILTER_FLAG_* bits.
pub(super) const FLAGS: &[(&str, u32)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", FLAG_TSYNC),
    ("SECCOMP_FILTER_FLAG_LOG", FLAG_LOG),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", FLAG_SPEC_ALLOW),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        FLAG_WAIT_KILLABLE_RECV,
    ),
];

/// A validated profile.
#[derive(Debug)]
pub(super) struct Plan {
    pub default: Action,
    /// Every rule, split into AND-groups; `ArchRules::entries` index into it.
    pub rules: Vec<Rule>,
    pub arches: Vec<(Arch, ArchRules)>,
    pub flags: u32,
    pub notify: bool,
}

pub(super) fn plan(profile: &Seccomp) -> Result<Plan, SeccompError> {
    let default = Action::parse(&profile.default_action, profile.default_errno_ret)?;
    if default == Action::Notify {
        return Err(SeccompError::NotifyDefault);
    }
    let arches = arch::select(&profile.architectures)?;

    let mut flags = 0;
    for name in &profile.flags {
        let bit = FLAGS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| *b)
            .ok_or_else(|| SeccompError::UnknownFlag(name.clone()))?;
        flags |= bit;
    }

    // Validate every rule and split it into AND-groups once; resolution per arch follows.
    let mut rules: Vec<Rule> = Vec::new();
    // (syscall table index, range of `rules`, whether the rule repeats the default action)
    let mut names: Vec<(Option<usize>, std::ops::Range<u32>, bool)> = Vec::new();
    // Rules mirrored onto x86's socketcall/ipc: (carrier syscall, rule index).
    let mut mux: Vec<(&str, u32)> = Vec::new();
    let mut notify = false;
    for sc in &profile.syscalls {
        let action = Action::parse(&sc.action, sc.errno_ret)?;
        let first = sc.names.first().map(String::as_str).unwrap_or("");
        let cmps = sc
            .args
            .iter()
            .map(|a| parse_arg(first, a))
            .collect::<Result<Vec<_>, _>>()?;
        if sc.names.is_empty() {
            return Err(SeccompError::EmptyName);
        }
        let start = rules.len() as u32;
        // Like runc: several comparisons on the same argument become separate rules (OR);
        // otherwise all comparisons form one rule (AND).
        let repeated = (0..6).any(|i| cmps.iter().filter(|c| c.index == i).count() > 1);
        if repeated {
            rules.extend(cmps.iter().map(|c| Rule {
                cmps: vec![*c],
                action,
            }));
        } else {
            rules.push(Rule { cmps, action });
        }
        let range = start..rules.len() as u32;
        // A rule that repeats the default action changes nothing (runc skips it too), but
        // its syscalls still count as known to the profile.
        let redundant = action.ret() == default.ret();
        for name in &sc.names {
            if name.is_empty() {
                return Err(SeccompError::EmptyName);
            }
            if action == Action::Notify && name == "write" {
                return Err(SeccompError::NotifyWrite);
            }
            names.push((arch::lookup(name), range.clone(), redundant));
            if let Some((carrier, call)) = multiplexed(name) {
                // Conditions on the real arguments can't be checked through the carrier
                // (they sit in memory), so only unconditional rules are mirrored.
                if sc.args.is_empty() && !redundant {
                    rules.push(Rule {
                        cmps: vec![Cmp {
                            index: 0,
                            op: Op::MaskedEq,
                            value: 0xffff,
                            value_two: call,
                        }],
                        action,
                    });
                    mux.push((carrier, rules.len() as u32 - 1));
                }
            }
        }
        notify |= action == Action::Notify && !redundant;
    }

    let enosys = !(default.is_permissive() || default == Action::Errno(libc::ENOSYS as u32));
    let mut out = Vec::with_capacity(arches.len());
    for arch in arches {
        let mut ar = ArchRules {
            entries: Vec::with_capacity(names.len()),
            enosys_above: None,
        };
        let mut max = None;
        for (index, range, redundant) in &names {
            // Unknown names are skipped, as libseccomp does for syscalls an arch lacks.
            let Some(nr) = index.and_then(|i| arch.number(i)) else {
                continue;
            };
            if arch.counts_for_max(nr) {
                max = max.max(Some(nr));
            }
            if !*redundant {
                ar.entries.extend(range.clone().map(|r| (nr, r)));
            }
        }
        if arch == Arch::X86 {
            for (carrier, rule) in &mux {
                if let Some(nr) = arch.number_of(carrier) {
                    ar.entries.push((nr, *rule));
                }
            }
        }
        // Stable: rules of one syscall keep profile order.
        ar.entries.sort_by_key(|(nr, _)| *nr);
        ar.enosys_above = if enosys { max } else { None };
        out.push((arch, ar));
    }

    if notify {
        flags |= FLAG_NEW_LISTENER;
        if flags & FLAG_TSYNC != 0 {
            // The kernel refuses TSYNC with a listener unless it may report ESRCH instead of
            // a thread id on failure.
            flags |= FLAG_TSYNC_ESRCH;
        }
    } else {
        // Only meaningful for a listener; the kernel rejects it without one.
        flags &= !FLAG_WAIT_KILLABLE_RECV;
    }
    Ok(Plan {
        default,
        rules,
        arches: out,
        flags,
        notify,
    })
}

/// On 32-bit x86 the socket and SysV IPC calls can also be made through the socketcall(2) and
/// ipc(2) multiplexers, with the call number in the first argument. libseccomp mirrors rules
/// for them so that a denied `socket` can't be reached as socketcall(SYS_SOCKET); so do we.
fn multiplexed(name: &str) -> Option<(&'static str, u64)> {
    const SOCKETCALL: &[&str] = &[
        "socket",
        "bind",
        "connect",
        "listen",
        "accept",
        "getsockname",
        "getpeername",
        "socketpair",
        "send",
        "recv",
        "sendto",
        "recvfrom",
        "shutdown",
        "setsockopt",
        "getsockopt",
        "sendmsg",
        "recvmsg",
        "accept4",
        "recvmmsg",
        "sendmmsg",
    ];
    const IPC: &[(&str, u64)] = &[
        ("semop", 1),
        ("semget", 2),
        ("semctl", 3),
        ("semtimedop", 4),
        ("msgsnd", 11),
        ("msgrcv", 12),
        ("msgget", 13),
        ("msgctl", 14),
        ("shmat", 21),
        ("shmdt", 22),
        ("shmget", 23),
        ("shmctl", 24),
    ];
    if let Some(i) = SOCKETCALL.iter().position(|n| *n == name) {
        return Some(("socketcall", i as u64 + 1));
    }
    IPC.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| ("ipc", *c))
}
