//! From a validated plan to cBPF.
//!
//! Layout:
//! ```text
//!   A = arch; one `jeq AUDIT_ARCH_*` per architecture; else ret KILL (libseccomp's bad-arch
//!   action)
//!   per architecture: A = nr
//!     (x86_64 only) jset X32_SYSCALL_BIT -> x32 section, or bad-arch if x32 isn't covered
//!     binary search over the profile's syscall numbers, leaves of up to 4 `jeq`
//!     each matched syscall: its conditional rules in order, then its fallback, then default
//!     not found: nr > highest syscall the profile names -> ERRNO(ENOSYS), else default
//! ```
//! A binary search costs ~log2(n) comparisons per syscall where a linear list costs up to n
//! (docker's profile has ~350 names per arch).

use super::arch::{Arch, X32_SYSCALL_BIT};
use super::bpf::{Asm, Cond, Insn, Label, To};
use super::profile::{Action, ArchRules, Cmp, Op, Plan, Rule};
use super::SeccompError;

/// libseccomp's default bad-architecture action (SCMP_ACT_KILL).
const BAD_ARCH: u32 = 0;
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;
const LEAF: usize = 4;

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

/// The code for one architecture; A holds the syscall number on entry.
fn section(asm: &mut Asm, plan: &Plan, arch: Arch, rules: &ArchRules) {
    let not_found = asm.label();
    let entries: Vec<(u32, &Vec<Rule>)> = rules.syscalls.iter().map(|(n, r)| (*n, r)).collect();
    tree(asm, plan, arch, &entries, not_found);
    asm.bind(not_found);
    if let Some(max) = rules.enosys_above {
        let enosys = asm.label();
        asm.jump(Cond::Gt, max, To::L(enosys), To::Next);
        asm.ret(plan.default.ret());
        asm.bind(enosys);
        asm.ret(Action::Errno(libc::ENOSYS as u32).ret());
    } else {
        asm.ret(plan.default.ret());
    }
}

fn tree(asm: &mut Asm, plan: &Plan, arch: Arch, entries: &[(u32, &Vec<Rule>)], miss: Label) {
    if entries.len() <= LEAF {
        let bodies: Vec<Label> = entries.iter().map(|_| asm.label()).collect();
        for ((nr, _), body) in entries.iter().zip(&bodies) {
            asm.jump(Cond::Eq, *nr, To::L(*body), To::Next);
        }
        asm.goto(miss);
        // Bodies sit right behind their leaf so the branches to them stay short.
        for ((_, rules), body) in entries.iter().zip(&bodies) {
            asm.bind(*body);
            body_for(asm, plan, arch, rules);
        }
        return;
    }
    let mid = entries.len() / 2;
    let right = asm.label();
    asm.jump(Cond::Ge, entries[mid].0, To::L(right), To::Next);
    tree(asm, plan, arch, &entries[..mid], miss);
    asm.bind(right);
    tree(asm, plan, arch, &entries[mid..], miss);
}

fn body_for(asm: &mut Asm, plan: &Plan, arch: Arch, rules: &[Rule]) {
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
