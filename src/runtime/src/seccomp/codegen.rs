//! From a validated plan to cBPF.
//!
//! Layout:
//! ```text
//!   A = arch; one `jeq AUDIT_ARCH_*` per architecture; else ret KILL (libseccomp's bad-arch
//!   action)
//!   per architecture: A = nr
//!     (x86_64 only) jset X32_SYSCALL_BIT -> x32 section, or bad-arch if x32 isn't covered
//!     binary search over intervals of syscall numbers with the same outcome
//!     each matched syscall: its conditional rules in order, then its fallback, then default
//!     not found: nr > highest syscall the profile names -> ERRNO(ENOSYS), else default
//! ```
//! A binary search costs ~log2(n) comparisons per syscall where a linear list costs up to n.

use super::arch::{Arch, X32_SYSCALL_BIT};
use super::bpf::{Asm, Cond, Insn, Label, To};
use super::profile::{Action, ArchRules, Cmp, Op, Plan, Rule};
use super::SeccompError;

/// libseccomp's default bad-architecture action (SCMP_ACT_KILL).
const BAD_ARCH: u32 = 0;
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

pub(super) fn generate(plan: &Plan) -> Result<Vec<Insn>, SeccompError> {
    let mut asm = Asm::default();
    asm.load(OFF_ARCH);
    // x86_64 and x32 share an audit token: one section, split on the x32 bit.
    let mut audits: Vec<u32> = plan.arches.iter().map(|(a, _)| a.audit()).collect();
    audits.dedup();
    let sections: Vec<(u32, Label)> = audits.iter().map(|&a| (a, asm.label())).collect();
    for &(audit, label) in &sections {
        asm.jump(Cond::Eq, audit, To::L(label), To::Next);
    }
    asm.ret(BAD_ARCH);

    let find = |arch: Arch| plan.arches.iter().find(|(a, _)| *a == arch).map(|(_, r)| r);
    for &(audit, label) in &sections {
        asm.bind(label);
        asm.load(OFF_NR);
        if audit == Arch::X86_64.audit() {
            let x32 = asm.label();
            asm.jump(Cond::Set, X32_SYSCALL_BIT, To::L(x32), To::Next);
            match find(Arch::X86_64) {
                Some(rules) => section(&mut asm, plan, Arch::X86_64, rules),
                None => asm.ret(BAD_ARCH),
            }
            asm.bind(x32);
            match find(Arch::X32) {
                Some(rules) => section(&mut asm, plan, Arch::X32, rules),
                None => {
                    // nr -1 (a tracer skipping the syscall) also has the bit set.
                    let skip = asm.label();
                    asm.jump(Cond::Eq, u32::MAX, To::L(skip), To::Next);
                    asm.ret(BAD_ARCH);
                    asm.bind(skip);
                    asm.ret(plan.default.ret());
                }
            }
        } else {
            for (arch, rules) in plan.arches.iter().filter(|(a, _)| a.audit() == audit) {
                section(&mut asm, plan, *arch, rules);
            }
        }
    }
    asm.assemble()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ret(u32),
    /// Index of a syscall whose rules have argument conditions.
    Body(usize),
}

/// The code for one architecture; A holds the syscall number on entry.
///
/// The syscall number space is cut into intervals with one outcome each (a run of syscalls
/// that all get ALLOW is one interval, as is a gap of unnamed ones), and a binary search over
/// the interval starts jumps straight to the outcome. Docker's profile has ~100 intervals per
/// architecture for ~350 names: fewer instructions to load and ~7 comparisons per syscall.
fn section(asm: &mut Asm, plan: &Plan, arch: Arch, rules: &ArchRules) {
    let default = plan.default.ret();
    let enosys = Action::Errno(libc::ENOSYS as u32).ret();
    let gap = |nr: u32| match rules.enosys_above {
        Some(max) if nr > max => enosys,
        _ => default,
    };

    // Rules of each named syscall, in evaluation order.
    let mut bodies: Vec<Vec<&Rule>> = Vec::new();
    let mut intervals: Vec<(u32, Outcome)> = Vec::new();
    let mut push = |start: u32, o: Outcome| {
        if intervals.last().map(|(_, last)| *last) != Some(o) {
            intervals.push((start, o));
        }
    };
    let mut next_free: u64 = 0;
    let entries = &rules.entries;
    let mut i = 0;
    while i < entries.len() {
        let nr = entries[i].0;
        let mut j = i;
        while j < entries.len() && entries[j].0 == nr {
            j += 1;
        }
        // The unnamed gap before this syscall; it may straddle the ENOSYS limit.
        if (nr as u64) > next_free {
            push(next_free as u32, Outcome::Ret(gap(next_free as u32)));
            if let Some(max) = rules.enosys_above {
                if (max as u64) + 1 > next_free && max < nr {
                    push(max + 1, Outcome::Ret(enosys));
                }
            }
        }
        let group: Vec<&Rule> = ordered(
            entries[i..j].iter().map(|(_, r)| &plan.rules[*r as usize]),
            default,
        );
        let outcome = match group.as_slice() {
            [] => Outcome::Ret(default),
            [only] if only.cmps.is_empty() => Outcome::Ret(only.action.ret()),
            _ => {
                bodies.push(group);
                Outcome::Body(bodies.len() - 1)
            }
        };
        push(nr, outcome);
        next_free = nr as u64 + 1;
        i = j;
    }
    if next_free <= u32::MAX as u64 {
        push(next_free as u32, Outcome::Ret(gap(next_free as u32)));
        if let Some(max) = rules.enosys_above {
            if (max as u64) + 1 > next_free && max < u32::MAX {
                push(max + 1, Outcome::Ret(enosys));
            }
        }
    }

    let mut rets: Vec<(u32, Label)> = Vec::new();
    let body_labels: Vec<Label> = bodies.iter().map(|_| asm.label()).collect();
    let mut target = |asm: &mut Asm, o: Outcome| match o {
        Outcome::Body(b) => body_labels[b],
        Outcome::Ret(v) => match rets.iter().find(|(rv, _)| *rv == v) {
            Some((_, l)) => *l,
            None => {
                let l = asm.label();
                rets.push((v, l));
                l
            }
        },
    };
    if intervals.len() == 1 {
        let l = target(asm, intervals[0].1);
        asm.goto(l);
    } else {
        search(asm, &intervals, &mut target);
    }
    for (v, l) in rets {
        asm.bind(l);
        asm.ret(v);
    }
    for (rules, l) in bodies.iter().zip(body_labels) {
        asm.bind(l);
        body_for(asm, plan, arch, rules);
    }
}

/// Binary search over interval starts (at least two intervals).
fn search(
    asm: &mut Asm,
    iv: &[(u32, Outcome)],
    target: &mut impl FnMut(&mut Asm, Outcome) -> Label,
) {
    let mid = iv.len() / 2;
    let (left, right) = iv.split_at(mid);
    let right_label = if right.len() == 1 {
        target(asm, right[0].1)
    } else {
        asm.label()
    };
    let f = if left.len() == 1 {
        To::L(target(asm, left[0].1))
    } else {
        To::Next
    };
    asm.jump(Cond::Ge, right[0].0, To::L(right_label), f);
    if left.len() > 1 {
        search(asm, left, target);
    }
    if right.len() > 1 {
        asm.bind(right_label);
        search(asm, right, target);
    }
}

/// Conditional rules keep profile order and are tried first; the first unconditional rule
/// is the fallback (else the default action); later unconditional rules can never match.
/// Trailing conditional rules that end in the fallback's action anyway are dropped: docker's
/// profile allows socketcall outright, so its mirrored socket rules cost nothing.
fn ordered<'a>(rules: impl Iterator<Item = &'a Rule> + Clone, default: u32) -> Vec<&'a Rule> {
    let mut out: Vec<&Rule> = rules.clone().filter(|r| !r.cmps.is_empty()).collect();
    let fallback = rules.into_iter().find(|r| r.cmps.is_empty());
    let fallback_ret = fallback.map_or(default, |u| u.action.ret());
    while out.last().is_some_and(|r| r.action.ret() == fallback_ret) {
        out.pop();
    }
    out.extend(fallback);
    out
}

fn body_for(asm: &mut Asm, plan: &Plan, arch: Arch, rules: &[&Rule]) {
    for rule in rules {
        if rule.cmps.is_empty() {
            asm.ret(rule.action.ret());
            return;
        }
        let next = asm.label();
        for cmp in &rule.cmps {
            compare(asm, arch, cmp, next);
        }
        asm.ret(rule.action.ret());
        asm.bind(next);
    }
    asm.ret(plan.default.ret());
}

/// Falls through when the comparison holds, jumps to `fail` otherwise. Arguments are 64-bit
/// values compared as unsigned, a word at a time; on 32-bit ABIs only the low word exists
/// (libseccomp compares the low 32 bits of the rule's value there).
fn compare(asm: &mut Asm, arch: Arch, cmp: &Cmp, fail: Label) {
    let base = OFF_ARGS + 8 * cmp.index;
    let (lo_off, hi_off) = if cfg!(target_endian = "little") {
        (base, base + 4)
    } else {
        (base + 4, base)
    };
    let (vhi, vlo) = ((cmp.value >> 32) as u32, cmp.value as u32);
    let (dhi, dlo) = ((cmp.value_two >> 32) as u32, cmp.value_two as u32);
    let f = To::L(fail);
    let n = To::Next;

    if arch.is_32bit() {
        asm.load(lo_off);
        match cmp.op {
            Op::Eq => asm.jump(Cond::Eq, vlo, n, f),
            Op::Ne => asm.jump(Cond::Eq, vlo, f, n),
            Op::Gt => asm.jump(Cond::Gt, vlo, n, f),
            Op::Ge => asm.jump(Cond::Ge, vlo, n, f),
            Op::Lt => asm.jump(Cond::Ge, vlo, f, n),
            Op::Le => asm.jump(Cond::Gt, vlo, f, n),
            Op::MaskedEq => {
                asm.and(vlo);
                asm.jump(Cond::Eq, dlo, n, f);
            }
        }
        return;
    }

    let pass = asm.label();
    let p = To::L(pass);
    asm.load(hi_off);
    match cmp.op {
        Op::Eq => {
            asm.jump(Cond::Eq, vhi, n, f);
            asm.load(lo_off);
            asm.jump(Cond::Eq, vlo, n, f);
        }
        Op::Ne => {
            asm.jump(Cond::Eq, vhi, n, p);
            asm.load(lo_off);
            asm.jump(Cond::Eq, vlo, f, n);
        }
        Op::Gt | Op::Ge => {
            asm.jump(Cond::Gt, vhi, p, n);
            asm.jump(Cond::Eq, vhi, n, f);
            asm.load(lo_off);
            let c = if cmp.op == Op::Gt { Cond::Gt } else { Cond::Ge };
            asm.jump(c, vlo, n, f);
        }
        Op::Lt | Op::Le => {
            asm.jump(Cond::Gt, vhi, f, n);
            asm.jump(Cond::Eq, vhi, n, p);
            asm.load(lo_off);
            // lt: fail when lo >= v; le: fail when lo > v.
            let c = if cmp.op == Op::Lt { Cond::Ge } else { Cond::Gt };
            asm.jump(c, vlo, f, n);
        }
        Op::MaskedEq => {
            asm.and(vhi);
            asm.jump(Cond::Eq, dhi, n, f);
            asm.load(lo_off);
            asm.and(vlo);
            asm.jump(Cond::Eq, dlo, n, f);
        }
    }
    asm.bind(pass);
}
